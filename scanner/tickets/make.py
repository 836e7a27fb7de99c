"""The ticket system of each receiver, from the configuration and the
credentials in the environment."""

from __future__ import annotations

from collections.abc import Callable

from scanner.calls.ratelimit import RateLimiter
from scanner.config.tickets import TicketsConfig
from scanner.tickets.systems import Tickets


def systems(config: TicketsConfig) -> Callable[[str], Tickets]:
    pace = RateLimiter(config.requests_per_second)  # one pace for every system

    def make(name: str) -> Tickets:
        receiver = config.receiver(name)
        if receiver.jira is not None:
            from scanner.tickets.jira import JiraTickets, make_client

            return JiraTickets(make_client(receiver.jira, config.timeout), receiver.jira, pace)
        assert receiver.servicenow is not None
        from scanner.tickets.servicenow import ServiceNowTickets, make_session

        session = make_session(receiver.servicenow)
        return ServiceNowTickets(session, receiver.servicenow, pace, config.timeout)

    return make
