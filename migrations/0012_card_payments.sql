-- Every card payment captured that the exchange learned of (a webhook), recorded before it is
-- applied: `exchange ledger check` fails while one of them is not in the ledger. A payment
-- nothing was due for (a balance paid twice) is received as an overpayment and refunded.
CREATE TABLE card_payments (
    intent_id   text PRIMARY KEY,
    purpose     text NOT NULL,
    reference   text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    char(3) NOT NULL,
    seen_at     timestamptz NOT NULL
);

ALTER TABLE payments DROP CONSTRAINT payments_purpose_check;
ALTER TABLE payments ADD CONSTRAINT payments_purpose_check CHECK (purpose IN ('deposit', 'balance', 'escrow', 'overpayment'));
