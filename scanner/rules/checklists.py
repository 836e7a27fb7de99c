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
            "remove-unused-key",
            "Delete the key if nobody uses it",
            (
                "Check who may still need it: its owners, its creator, the services it was "
                "restricted to; usage shows no request over the dormancy window.",
                "If nobody does, delete it (Cloud Console, APIs & Services > Credentials): a "
                "deleted key can be undeleted for 30 days.",
                "If someone does, restrict it to the APIs they call (see restrict-key) and tell "
                "them the Gemini API blocks it while it stays unrestricted.",
            ),
        ),
        Checklist(
            "move-gemini-behind-server",
            "Call Gemini from a server, not from the browser",
            (
                "Add an endpoint to your backend that calls the Gemini API with a key only the "
                "server holds (an auth key in Secret Manager), and check your own users there.",
                "Change the client-side code to call that endpoint instead of the Gemini API.",
                "Remove the Gemini API from this browser key's API restrictions, or delete the "
                "key if Gemini was all it was for.",
                "A browser key is public by design: whatever its type, anyone who loads the page "
                "can read it and call every API it allows.",
            ),
        ),
        Checklist(
            "diagnose-gemini-rejections",
            "Find out why the Gemini API rejects the key",
            (
                "In AI Studio, check the key's service account: an auth key is rejected while "
                "its account is deleted or disabled.",
                "Check the key's API restrictions include the Gemini API "
                "(generativelanguage.googleapis.com) and its application restrictions admit "
                "the callers.",
                "Check the Gemini API is enabled in the project and its quota is not used up: "
                "the response codes by credential in APIs & Services > Metrics tell which.",
                "Fix the cause, then watch the share of rejected requests fall.",
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
            "least-privilege-service-account",
            "Give the key's service account only what it needs",
            (
                "Requests with an auth key run as its service account: an owner or editor "
                "account makes the key a credential for the whole project.",
                "Create a service account for the key's callers with only the roles they "
                "use (for Gemini, none beyond what AI Studio grants).",
                "Create a new auth key bound to it, roll it out, verify callers.",
                "Delete the old key; remove owner and editor from the old account if nothing "
                "else needs them.",
            ),
        ),
        Checklist(
            "replace-auth-key",
            "Replace a key whose service account is gone",
            (
                "An auth key works only while its service account exists and is enabled.",
                "If the account was deleted less than 30 days ago and is still wanted, "
                "undelete it; if it was disabled on purpose, leave it so.",
                "Otherwise create a new auth key in AI Studio, roll it out to the callers, "
                "and delete the old key.",
            ),
        ),
        Checklist(
            "assign-owner",
            "Name an owner for the key's project",
            (
                "Grant roles/owner on the project to the responsible person or group, or set "
                "the project's owner or team label.",
                "Or map the project to its team's addresses in alerts.owners.",
                "If nobody claims the key, disable it, wait for complaints, then delete it.",
            ),
        ),
        Checklist(
            "restrict-key-admin",
            "Take key administration back from broad grants",
            (
                "Remove the binding that grants owner, editor, API Keys Admin or a custom "
                "role with apikeys.keys.create or apikeys.keys.update to the public, a whole "
                "domain or outside accounts.",
                "Grant key administration to named groups of your organization only.",
                "Review the project's keys for restrictions changed or keys created while the "
                "grant stood, and rotate any you cannot vouch for.",
            ),
        ),
        Checklist(
            "leak-response",
            "Respond to a leaked key",
            (
                "Generate a replacement key (for Gemini, an auth key from AI Studio).",
                "Deploy the application with the replacement, from Secret Manager or an "
                "environment variable, never from source code.",
                "Once the replacement is verified, disable the compromised key (do not delete "
                "it first, to avoid downtime), then delete it: only deletion resolves the "
                "finding, since a leaked string stays leaked whatever its restrictions.",
                "Audit usage of the compromised key in billing and API usage reports.",
                "Remove the string from the repository and its history, and close the "
                "scanner's alert (for GitHub, as revoked).",
            ),
        ),
        Checklist(
            "investigate-usage-spike",
            "Find out who is using the key",
            (
                "In the Cloud Console, open APIs & Services > Metrics for the key's project and "
                "filter by this credential: which APIs, since when, what response codes.",
                "Ask the key's owners whether a release or a batch job explains the traffic.",
                "If nobody does: treat the key as leaked (see the leak response checklist) and "
                "search your repositories and secret scanner alerts for it.",
                "Add or tighten API and application restrictions so that a stolen copy is "
                "worth less.",
            ),
        ),
    )
}
