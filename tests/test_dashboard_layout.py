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


def test_the_top_row_answers_the_first_four_questions() -> None:
    """What is blocked, what is due this week, what changed since yesterday,
    is the scan healthy: the first row, left to right; then the Keys table."""
    board = dashboard()
    top = sorted(
        (p for p in board["panels"] if p["type"] != "row" and p["gridPos"]["y"] == 1),
        key=lambda p: p["gridPos"]["x"],
    )
    assert [p["title"] for p in top] == [
        "Keys blocked now",
        "Due within 7 days",
        "Changed since yesterday",
        "Scan health now",
    ]
    assert sum(p["gridPos"]["w"] for p in top) == 24
    changed = {t["legendFormat"] for t in top[2]["targets"]}
    assert changed == {"opened", "resolved", "newly blocked"}
    assert {t["legendFormat"] for t in top[3]["targets"]} == {
        "last success",
        "last scan",
        "coverage",
    }
    keys = next(p for p in all_panels(board["panels"]) if p["title"] == "Keys")
    assert keys["type"] == "table" and keys["datasource"]["uid"] == "${history}"
    below = min(p["gridPos"]["y"] for p in board["panels"] if p["gridPos"]["y"] > 1)
    assert keys["gridPos"]["y"] <= below + 4  # right under the stats
    sql = keys["targets"][0]["rawSql"]
    for variable in ("${key_status:sqlstring}", "${owner:sqlstring}", "${project:regex}"):
        assert variable in sql
    assert "${rule:regex}" in sql and "FROM current_keys" in sql
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["key_status"]["type"] == "custom" and variables["owner"]["type"] == "textbox"
    links = {
        o["matcher"]["options"]: p["value"][0]["url"]
        for o in keys["fieldConfig"]["overrides"]
        for p in o["properties"]
        if p["id"] == "links"
    }
    assert links["Key"].endswith(
        "/apis/credentials/key/${__data.fields.key_id}?project=${__data.fields.Project}"
    )


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
