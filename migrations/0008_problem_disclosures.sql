-- Problem tender disclosures (难题招标公示): each milestone accepted (its share released to the
-- solver) and each operator's arbitration of an objection join the one disclosure chain.

ALTER TABLE disclosures DROP CONSTRAINT disclosures_kind_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_kind_check CHECK (kind IN (
    'listing_announcement', 'auction_notice', 'deal_announcement', 'auction_failed',
    'transaction_certificate', 'objection_outcome', 'tender_announcement', 'tender_opening',
    'tender_candidates', 'tender_award', 'tender_objection_outcome', 'problem_milestone_accepted',
    'problem_arbitration'));
