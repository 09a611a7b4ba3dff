-- Tender disclosures (招标公示): the announcement, the opening results (bidder names and prices),
-- the candidates, the award (with the committee's names) and the outcome of each objection
-- join the one disclosure chain. Nothing about a proposal is published before the opening.

ALTER TABLE disclosures DROP CONSTRAINT disclosures_kind_check;
ALTER TABLE disclosures ADD CONSTRAINT disclosures_kind_check CHECK (kind IN (
    'listing_announcement', 'auction_notice', 'deal_announcement', 'auction_failed',
    'transaction_certificate', 'objection_outcome', 'tender_announcement', 'tender_opening',
    'tender_candidates', 'tender_award', 'tender_objection_outcome'));
