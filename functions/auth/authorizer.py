"""REQUEST authorizer of the WebSocket `$connect` route.

Returns an IAM policy: Allow on the `methodArn` with the caller's identity as context (API Gateway
replays it as `requestContext.authorizer` on every later route), or an explicit Deny (403) for a valid
token whose account is gone. A missing or invalid token raises "Unauthorized", which API Gateway turns
into a 401 and the upgrade fails. The event carries the token (query string or header): never log it.
"""

from __future__ import annotations

from typing import Any

from quiz.auth.errors import TokenRejected
from quiz.bootstrap import connect_authorizer
from quiz.events import AuthorizerEvent
from quiz.http import Event
from quiz.observability import traced_handler


@traced_handler("WsAuthorizerFunction")
def handler(event: Event, context: Any) -> dict[str, Any]:
    try:
        return connect_authorizer().authorize(AuthorizerEvent(event))
    except TokenRejected:
        # The exact message API Gateway documents for "return 401" from a Lambda authorizer.
        raise Exception("Unauthorized") from None
