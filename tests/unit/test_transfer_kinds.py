"""Every ledger transfer the settlement writes is told to its party in words: its id names its kind."""

from __future__ import annotations

import re
from pathlib import Path

from exchange.settlement.views import TRANSFER_KINDS, transfer_kind
from web.i18n import MESSAGES

MOVES = Path(__file__).parents[2] / "exchange" / "settlement" / "moves.py"


def test_each_kind_of_transfer_id_is_named() -> None:
    assert transfer_kind("payment:offline:ICBC-1") == "payment"
    assert transfer_kind("deposit:7:hold") == "deposit_hold"
    assert transfer_kind("deposit:7:excess-refund") == "deposit_excess_refund"
    assert transfer_kind("trade:3:refund-balance") == "trade_refund"
    assert transfer_kind("trade:3:rescind-deposit") == "trade_rescind"
    assert transfer_kind("trade:3:payout-2") == "trade_payout"
    assert transfer_kind("trade:3:forfeit-payout") == "trade_forfeit_payout"
    assert transfer_kind("security:9:hold") == "other"
    assert transfer_kind("deposit:7:something-new") == "other"


def test_every_transfer_id_the_settlement_writes_has_words_in_both_languages() -> None:
    written = set(re.findall(r'f"((?:deposit|trade):\{[^}]+\}:[a-z-]+)', MOVES.read_text()))
    assert len(written) >= 12, written
    for template in written:
        kind = transfer_kind(re.sub(r"\{[^}]+\}", "1", template))
        assert kind != "other", template
    for kind in (*TRANSFER_KINDS, "payment", "other"):
        zh, en = MESSAGES[f"story.{kind}"]
        assert "{amount}" in zh and "{amount}" in en, kind
