"""The dashboard's shape, read from its JSON: data sources by variable, the
panels a security team looks for, the Console links of the drill-down."""

from __future__ import annotations

from tests.test_dashboards import all_panels, dashboard


def test_dashboard_uses_a_datasource_variable_and_current_schema() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["history"]["query"] == "grafana-postgresql-datasource"
    sources = set()
    for panel in all_panels(board["panels"]):
        for holder in [panel, *panel.get("targets", [])]:
            if "datasource" in holder:
                sources.add((holder["datasource"]["type"], holder["datasource"]["uid"]))
                sql = "rawSql" in holder or any("rawSql" in t for t in panel.get("targets", []))
                assert holder["datasource"]["uid"] == ("${history}" if sql else "${datasource}")
    # No hard-coded datasource anywhere.
    assert sources == {
        ("prometheus", "${datasource}"),
        ("grafana-postgresql-datasource", "${history}"),
    }
    titles = {p["title"] for p in all_panels(board["panels"])}
    for expected in (
        "Keys blocked now",
        "Non-compliant",
        "At risk",
        "Compliant",
        "Keys by status over time",
        "Open findings by rule",
        "Deadlines",
        "Top offenders",
        "Projects with the most blocked keys",
        "Scan health",
        "Alert delivery",
    ):
        assert expected in titles
    ids = [p["id"] for p in all_panels(board["panels"])]
    assert len(ids) == len(set(ids))


def test_console_links_address_keys_and_projects() -> None:
    panels = {p["title"]: p for p in all_panels(dashboard()["panels"])}
    top = panels["Top offenders"]
    links = {
        o["matcher"]["options"]: p["value"][0]["url"]
        for o in top["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "links"
    }
    console = "https://console.cloud.google.com"
    assert links["Key"] == (
        console + "/apis/credentials/key/${__data.fields.key_id}?project=${__data.fields.Project}"
    )
    assert links["Project"] == console + "/apis/credentials?project=${__value.raw}"
    renamed = top["transformations"][1]["options"]["renameByName"]
    assert renamed["display_name"] == "Key" and renamed["project"] == "Project"
    for title in (
        "Projects with the most blocked keys",
        "Projects with the most non-compliant keys",
    ):
        (link,) = panels[title]["fieldConfig"]["defaults"]["links"]
        assert link["url"] == console + "/apis/credentials?project=${__field.labels.project}"
