"""The remediation checklists findings point to, by id."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Checklist:
    id: str
    title: str
    steps: tuple[str, ...]


CHECKLISTS: dict[str, Checklist] = {
    c.id: c
    for c in (
        Checklist(
            "restrict-key",
            "Restrict the key to the APIs it needs",
            (
                "If the key is only for Gemini: in AI Studio open the key marked Unrestricted, "
                "choose Add restrictions, then Restrict to Gemini API only.",
                "If other services also use it: in the Cloud Console restrict it to those "
                "services (Gemini calls with it will then fail) and create a separate key "
                "for Gemini.",
                "Confirm every caller still works, then watch the key's API usage.",
            ),
        ),
        Checklist(
            "migrate-to-auth-key",
            "Move Gemini callers to an auth key",
            (
                "Create a new key in AI Studio for the same project (new keys are auth keys, "
                "bound to a service account).",
                "Store it in Secret Manager or an environment variable, never in source code.",
                "Update code, environment variables and deployment configuration to use it.",
                "Test every caller with the new key.",
                "Delete or revoke the old standard key.",
            ),
        ),
        Checklist(
            "rotate-key",
            "Rotate the key",
            (
                "Create the replacement key with the same restrictions.",
                "Roll it out to every caller.",
                "Verify traffic has moved to the new key.",
                "Disable the old key, and delete it once nothing breaks.",
            ),
        ),
        Checklist(
            "add-application-restriction",
            "Limit where the key can be used from",
            (
                "Servers: allow only their IP addresses. Web: allow only your own referrers, "
                "no bare wildcards. Mobile: allow only your app ids and signing certificates.",
                "Keys in client-side code are public: move calls behind a backend proxy.",
                "Verify callers still work after the change.",
            ),
        ),
        Checklist(
            "leak-response",
            "Respond to a leaked key",
            (
                "Generate a replacement key.",
                "Deploy the application with the replacement.",
                "Once the replacement is verified, disable the compromised key (do not delete "
                "it first, to avoid downtime).",
                "Audit usage of the compromised key in billing and API usage reports.",
            ),
        ),
    )
}
