"""Page text of the listing procedure, agreement pricing and quotes, one module per feature
(Chinese, English), merged into `web.i18n.MESSAGES`."""

from web.messages.agreements import MESSAGES as AGREEMENTS
from web.messages.listing_changes import MESSAGES as LISTING_CHANGES
from web.messages.listing_procedure import MESSAGES as LISTING_PROCEDURE
from web.messages.quotes import MESSAGES as QUOTES

FEATURE_MESSAGES: dict[str, tuple[str, str]] = {**AGREEMENTS, **LISTING_CHANGES, **LISTING_PROCEDURE, **QUOTES}
