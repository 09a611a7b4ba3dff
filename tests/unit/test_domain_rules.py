"""The index of the trading rules (DOMAIN.md, section by section) and the tests named after each.

Each rule lists the tests that check it, as `path::test name`. The test below fails when a
listed test no longer exists, so the index cannot silently go stale; a new rule gets its line
here together with its test.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INT, U = "tests/integration/", "tests/unit/"
CORE = U + "matching_core/"

RULES: dict[str, dict[str, list[str]]] = {
    "Working-day calendar": {
        "periods in working days: weekends and a holiday list, Asia/Shanghai": [
            U + "test_calendar.py::test_weekends_are_not_working_days",
            U + "test_calendar.py::test_public_holidays_are_not_working_days_and_make_up_weekends_are",
            U + "test_calendar.py::test_period_ends_at_midnight_shanghai_of_the_last_working_day",
        ],
        "acceleration shrinks every period without changing any rule": [
            U + "test_calendar.py::test_acceleration_shrinks_the_wall_clock_length_without_changing_the_rule",
            INT + "test_auction_rules.py::test_acceleration_shortens_the_auction_notice_without_changing_the_rule",
            INT + "test_listing_changes.py::test_suspension_month_is_shortened_by_the_calendars_acceleration",
            INT + "test_agreements.py::test_longer_notice_period_is_kept_and_accelerated_time_shrinks_it",
        ],
    },
    "Listing": {
        "1. listing price >= appraised value": [
            INT + "test_listing_lifecycle.py::test_listing_price_must_not_be_below_the_appraised_value",
        ],
        "2. operator approves (publishes the announcement) or returns with reasons": [
            INT + "test_listing_lifecycle.py::test_approval_announces_the_listing_for_twenty_working_days",
            INT + "test_listing_lifecycle.py::test_a_returned_listing_carries_reasons_and_can_be_corrected_and_resubmitted",
            INT + "test_listing_lifecycle.py::test_returning_without_reasons_is_refused",
            INT + "test_disclosure.py::test_approving_a_listing_publishes_its_announcement_for_the_announcement_period",
        ],
        "3. announcement period >= 20 wd": [
            INT + "test_listing_changes.py::test_announcement_period_is_at_least_20_working_days_also_when_a_change_restarts_it",
        ],
        "3. terms cannot change; an approved change restarts the period": [
            INT + "test_listing_changes.py::test_terms_cannot_change_without_approval",
            INT + "test_listing_changes.py::test_approved_change_applies_the_terms_and_restarts_the_period",
            INT + "test_listing_changes.py::test_rejected_change_changes_nothing",
        ],
        "3. extension by >= 5 wd each": [
            INT + "test_listing_changes.py::test_extension_adds_at_least_5_working_days_counted_after_the_current_end",
        ],
        "3. suspension pauses the clock (<= 1 month)": [
            INT + "test_listing_changes.py::test_suspension_pauses_the_clock_and_resumption_moves_the_end_by_the_time_suspended",
            INT + "test_listing_changes.py::test_suspension_lasts_at_most_a_month_and_resumes_automatically",
        ],
        "4. investors register intent during the period": [
            INT + "test_listing_procedure.py::test_intent_is_registered_only_during_the_announcement_period",
        ],
        "4. after it, the operator qualifies within 5 wd against the published conditions only": [
            INT + "test_listing_procedure.py::test_qualification_follows_the_period_and_is_due_within_5_working_days",
            INT + "test_listing_procedure.py::test_refusal_names_the_published_conditions_not_met_with_reasons",
        ],
        "4. the institution may comment (5 wd)": [
            INT + "test_listing_procedure.py::test_institution_may_comment_on_each_intent_until_qualification_is_due",
        ],
        "5. deposit (default 10% of the listing price) within 3 wd of qualification or no right to bid": [
            INT + "test_listing_lifecycle.py::test_deposit_defaults_to_10_percent_of_the_listing_price_and_is_a_per_lot_setting",
            INT + "test_listing_procedure.py::test_qualified_buyer_pays_the_deposit_within_3_working_days_or_loses_the_right_to_bid",
            INT + "test_settlement.py::test_a_deposit_not_paid_in_three_working_days_lapses",
        ],
        "6. 0 buyers: extend or relist; relisting down to 90% of the appraisal, lower with operator approval": [
            INT + "test_listing_procedure.py::test_no_qualified_deposited_buyer_leaves_the_listing_unsold",
            INT + "test_listing_changes.py::test_extension_of_an_unsold_listing_announces_it_again_from_now",
            INT + "test_listing_procedure.py::test_relisting_may_go_down_to_90_percent_of_the_appraisal_lower_with_operator_approval",
            CORE + "test_listing_outcome.py::test_no_buyer_means_extend_or_relist_down_to_ninety_percent_of_the_appraisal",
            CORE + "test_listing_outcome.py::test_relisting_below_the_floor_needs_operator_approval",
        ],
        "6. 1 buyer: agreement at the listing price (a quote >= the listing price)": [
            INT + "test_listing_procedure.py::test_one_buyer_confirms_a_quote_at_or_above_the_listing_price",
            CORE + "test_listing_outcome.py::test_one_buyer_means_an_agreement_at_the_listing_price",
            CORE + "test_listing_outcome.py::test_agreement_quote_must_reach_the_listing_price",
        ],
        "6. 2+ buyers: the method chosen at listing (English auction, sealed quote, weighted quote)": [
            INT + "test_listing_procedure.py::test_two_or_more_buyers_compete_by_the_method_chosen_at_listing",
            INT + "test_listing_procedure.py::test_english_auction_admits_exactly_the_deposited_buyers_and_carries_their_deposits",
            INT + "test_quotes.py::test_the_highest_price_wins_the_one_time_sealed_quote_and_the_opening_names_bidders_and_prices",
            INT + "test_quotes.py::test_the_highest_score_wins_the_weighted_quote_with_the_listings_price_weight",
        ],
        "7. winner signs within 3 wd, pays the balance within 5 wd; deposit into the price; losers released at once": [
            INT + "test_settlement.py::test_at_the_close_the_winner_deposit_goes_to_the_price_and_the_others_are_released",
            INT + "test_settlement.py::test_a_full_trade_from_deposit_to_certificate",
            INT + "test_quotes.py::test_the_winners_deposit_converts_into_part_of_the_price_and_the_losers_are_released_at_once",
        ],
        "7. a winner who does not sign or pay forfeits; the lot goes to the next bidder or is relisted": [
            INT + "test_settlement.py::test_a_winner_who_does_not_confirm_forfeits_and_the_lot_goes_to_the_next_bidder",
            INT + "test_settlement.py::test_a_forfeited_and_relisted_lot_can_be_auctioned_again",
            INT + "test_quotes.py::test_a_winner_who_does_not_sign_forfeits_and_the_lot_goes_to_the_next_bidder_by_rank",
            INT + "test_listing_procedure.py::test_agreement_not_confirmed_in_time_forfeits_the_deposit_and_leaves_the_listing_unsold",
        ],
        "8. delivery; buyer confirms or the objection window lapses; release less commission; certificate": [
            INT + "test_settlement.py::test_the_delivery_is_released_when_the_objection_window_lapses",
            INT + "test_settlement.py::test_an_objection_pauses_the_release_until_the_operator_rules",
            U + "test_commission.py::test_each_band_charges_its_rate_on_the_part_of_the_price_inside_it",
            U + "test_commission.py::test_a_small_price_pays_the_minimum_fee_but_never_more_than_the_price",
        ],
    },
    "English auction": {
        "opens at the start price": [CORE + "test_english_rules.py::test_auction_opens_at_the_start_price"],
        "bids below the reserve cannot win": [
            CORE + "test_english_rules.py::test_bids_below_the_reserve_cannot_win_and_the_auction_fails",
        ],
        "a valid bid is the high plus a positive whole multiple of the increment; increment table": [
            CORE + "test_english_rules.py::test_a_valid_bid_is_the_high_plus_a_positive_whole_multiple_of_the_increment",
            CORE + "test_core_english_properties.py::test_high_bid_only_rises_by_whole_increments",
            INT + "test_auctions.py::test_incremental_table_applies_by_price_band",
        ],
        "proxy bids; equal maxima: the earlier wins": [
            CORE + "test_core_english_properties.py::test_winner_is_highest_maximum_earliest_on_ties",
        ],
        "timed rounds: each valid bid restarts the quiet period; one full quiet period ends it, or the hard cap": [
            CORE + "test_english_rules.py::test_each_valid_bid_in_the_timed_rounds_restarts_the_quiet_period_until_the_hard_cap",
            CORE + "test_english_rules.py::test_the_auction_ends_after_one_full_quiet_period_without_a_bid",
            CORE + "test_core_english_properties.py::test_timed_round_never_shortens_close",
            INT + "test_auctions.py::test_a_bid_in_the_timed_rounds_extends_the_close_which_never_comes_early",
        ],
        "bids are irrevocable": [CORE + "test_english_rules.py::test_bids_are_irrevocable"],
        "anonymous codes until the result; the result discloses the winner's name and price": [
            CORE + "test_english_rules.py::test_bidders_are_shown_by_anonymous_codes",
            INT + "test_auction_rules.py::test_bidders_are_shown_by_anonymous_codes_until_the_result_names_the_winner_and_price",
        ],
        "highest valid bid at or above the reserve wins; otherwise the auction fails and the lot is relisted": [
            CORE + "test_english_rules.py::test_highest_valid_bid_at_or_above_the_reserve_wins",
            INT + "test_disclosure.py::test_an_auction_that_closes_unsold_publishes_its_failure_once",
            INT + "test_listing_procedure.py::test_failed_auction_of_a_competition_leaves_the_listing_unsold",
        ],
    },
    "Dutch auction (engine; not offered on the exchange's pages yet)": {
        "the price falls by a step per interval to a floor; the first qualified accept wins": [
            CORE + "test_core_dutch_properties.py::test_first_accept_wins_at_the_falling_price",
            CORE + "test_core_dutch_properties.py::test_no_accept_after_the_floor_interval_and_no_sealed_bid_after_its_window",
        ],
        "insider variant: a window for sealed higher bids the first accepter may match": [
            CORE + "test_core_bad_input.py::test_dutch_insider_round_walkthrough",
        ],
    },
    "Tender": {
        "1. documents, evaluation method and weights; deadline >= 20 days; questions until 10 days before": [
            INT + "test_tenders.py::test_announcement_needs_a_deadline_20_days_after_the_documents_a_security_of_at_most_2_percent_and_a_price_weight_of_10_percent",
            INT + "test_tenders.py::test_questions_are_taken_until_10_days_before_the_deadline_and_answers_are_public",
        ],
        "2. bid security <= 2% of the estimate, same ledger rules": [
            INT + "test_tenders.py::test_a_bidder_without_a_held_security_cannot_submit",
        ],
        "3. sealed proposals with a commitment receipt; nobody reads them before the opening": [
            INT + "test_tenders.py::test_the_receipt_is_the_commitment_anyone_can_check_after_the_opening",
            INT + "test_tender_secrecy.py::test_nobody_reads_a_proposal_before_opening",
            INT + "test_tender_secrecy.py::test_the_tender_key_is_refused_before_the_deadline",
            INT + "test_quotes.py::test_quotes_stay_sealed_until_the_deadline_for_everyone_operators_included",
        ],
        "4. fewer than 3 proposals: no opening, re-tender": [
            INT + "test_tenders.py::test_fewer_than_three_proposals_means_no_opening_and_a_re_tender",
        ],
        "5. public opening: bidder names and prices": [
            INT + "test_tenders.py::test_public_opening_at_the_deadline_publishes_bidder_names_and_prices",
        ],
        "6. committee odd >= 5, names secret until award; scoring; up to 3 candidates": [
            INT + "test_tenders.py::test_the_committee_is_an_odd_number_of_at_least_five_and_ranks_up_to_three_candidates_by_average_score",
        ],
        "7. candidates published >= 3 days; objections answered within 3 days (pause)": [
            INT + "test_tenders.py::test_an_objection_to_the_candidates_pauses_the_award_until_answered",
        ],
        "8. award to rank 1; contract within 30 days; securities refunded": [
            INT + "test_tenders.py::test_award_to_rank_one_publishes_the_committee_and_the_contract_refunds_every_security",
        ],
        "9. problem tenders: budget escrowed, paid per milestone on acceptance, objection and arbitration": [
            INT + "test_problem_tenders.py::test_the_budget_is_escrowed_before_work_starts",
            INT + "test_problem_tenders.py::test_a_milestone_is_paid_only_on_the_owner_acceptance",
            INT + "test_problem_tenders.py::test_an_objection_to_a_rejection_is_arbitrated_by_an_operator",
        ],
    },
    "Agreement pricing with notice": {
        "the notice: name, summary, mode, price, related-party flag, objection procedure": [
            INT + "test_agreements.py::test_agreement_notice_publishes_name_summary_mode_price_related_party_and_objection_procedure",
        ],
        "it runs >= 15 days": [INT + "test_agreements.py::test_agreement_notice_runs_at_least_15_days"],
        "anyone may object": [INT + "test_agreements.py::test_anyone_may_object_but_not_the_parties"],
        "objections and their outcome are published": [
            INT + "test_agreements.py::test_dismissed_objection_is_published_and_the_deal_closes",
            INT + "test_agreements.py::test_upheld_objection_cancels_the_agreement_for_good",
        ],
        "only then can the deal close, settled like any other": [
            INT + "test_agreements.py::test_open_objection_pauses_the_close",
            INT + "test_agreements.py::test_agreement_deal_settles_like_any_other_to_its_certificate",
        ],
    },
    "Disclosures": {
        "listing announcement, for the announcement period": [
            INT + "test_disclosure.py::test_approving_a_listing_publishes_its_announcement_for_the_announcement_period",
        ],
        "agreement-pricing notice, 15 days": [INT + "test_agreements.py::test_agreement_notice_runs_at_least_15_days"],
        "auction notice, >= 7 days before the start": [
            INT + "test_auction_rules.py::test_auction_notice_is_published_at_least_7_days_before_the_start",
        ],
        "deal announcement, 5 wd; transaction certificate, permanent": [
            INT + "test_disclosure.py::test_a_sale_publishes_its_auction_notice_deal_announcement_and_certificate",
        ],
        "tender candidates and award, 3 days": [
            INT + "test_tender_disclosures.py::test_a_tender_run_to_award_leaves_its_records_in_order_and_the_chain_verifies",
        ],
        "records are never edited: a correction is a new record referencing the old": [
            INT + "test_disclosure.py::test_a_disclosure_record_can_never_be_updated_or_deleted",
            INT + "test_disclosure.py::test_a_correction_is_a_new_record_referencing_the_old",
            INT + "test_disclosure.py::test_exchange_verify_names_a_record_edited_behind_the_trigger",
        ],
    },
}


@cache
def _tests_in(path: str) -> frozenset[str]:
    tree = ast.parse((ROOT / path).read_text(encoding="utf-8"))
    return frozenset(node.name for node in ast.walk(tree)
                     if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"))


@pytest.mark.parametrize("section", list(RULES))
def test_every_rule_of_the_section_names_tests_that_exist(section: str) -> None:
    missing = [ref for tests in RULES[section].values() for ref in tests
               if ref.split("::")[1] not in _tests_in(ref.split("::")[0])]
    assert missing == []
    assert all(RULES[section].values()), "a rule without a test"
