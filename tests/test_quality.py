"""The GX adapter: rows gathered across the store's chunks into GX frames, and the outcome the same whatever
the chunk and frame sizes (the ids a quarantining expectation names included)."""

import pytest

from migration_assets.quality import SAMPLE_IDS, SuiteValidator, validate_chunks


def _messages(n: int) -> list[dict]:
    records = []
    for i in range(n):
        record = {"id": f"m{i}", "conversation_id": str(i // 3), "kind": "inbound", "author_type": "contact",
                  "created_at": f"2024-01-{1 + i % 28:02d}T10:00:00Z"}
        if i % 7 == 3:
            record["created_at"] = "31/01/2024 10:00"  # fails the quarantining regex
        if i % 11 == 5:
            del record["conversation_id"]  # fails the quarantining not-null
        if i % 13 == 2:
            record["kind"] = "fax"  # fails a warning-only in-set
        records.append(record)
    records[40]["id"] = "M12"  # the same id as m12, in another case: not unique
    return records


def _validate(records: list[dict], chunk: int, frame_rows: int, *, whole_object: bool = True):
    validator = SuiteValidator("messages", frame_rows=frame_rows, whole_object=whole_object)
    for start in range(0, len(records), chunk):
        validator.validate_chunk(records[start:start + chunk])
    return validator.finish()


def _by_expectation(outcome) -> dict:
    return {(e.type, e.column): (e.success, e.evaluated, e.unexpected, sorted(e.unexpected_ids), e.sample_ids)
            for e in outcome.expectations}


@pytest.mark.parametrize(("chunk", "frame_rows"), [(100, 100), (7, 5), (9, 1), (100, 50_000), (4, 33)])
def test_the_outcome_does_not_depend_on_chunk_or_frame_size(chunk, frame_rows):
    records = _messages(100)
    outcome = _validate(records, chunk, frame_rows)
    got = _by_expectation(outcome)
    assert outcome.records == 100

    bad_time = sorted(f"m{i}" for i in range(100) if i % 7 == 3)
    no_conversation = sorted(f"m{i}" for i in range(100) if i % 11 == 5)
    bad_kind = [f"m{i}" for i in range(100) if i % 13 == 2]
    regex = got[("expect_column_values_to_match_regex", "created_at")]
    assert regex[:4] == (False, 100, len(bad_time), bad_time)
    assert got[("expect_column_values_to_not_be_null", "conversation_id")][:4] == \
        (False, 100, len(no_conversation), no_conversation)
    kind = got[("expect_column_values_to_be_in_set", "kind")]
    # Not a quarantining expectation: counted and sampled (in record order), no ids kept.
    assert kind == (False, 100, len(bad_kind), [], bad_kind)
    unique = got[("expect_column_values_to_be_unique", "id")]
    assert unique[:3] == (False, 100, 1) and unique[4] == ["M12"]  # the later of the two
    assert got[("expect_column_values_to_be_in_set", "author_type")][:3] == (True, 100, 0)

    reasons = outcome.quarantine_reasons()
    assert sorted(reasons) == sorted(set(bad_time) | set(no_conversation))
    assert reasons["m3"][0] == "gx:expect_column_values_to_match_regex:created_at"


def test_samples_stop_at_the_limit_and_quarantined_ids_do_not():
    records = [{"id": f"m{i}", "kind": "note", "author_type": "system", "created_at": "2024-01-01T00:00:00Z"}
               for i in range(3 * SAMPLE_IDS)]
    outcome = _validate(records, chunk=8, frame_rows=16)
    missing = next(e for e in outcome.expectations if e.column == "conversation_id")
    assert missing.unexpected == len(records)
    assert missing.sample_ids == [f"m{i}" for i in range(SAMPLE_IDS)]
    assert sorted(missing.unexpected_ids) == sorted(r["id"] for r in records)


def test_a_frame_holds_only_the_checked_columns_until_it_is_full():
    validator = SuiteValidator("messages", frame_rows=10)
    validator.validate_chunk([{"id": f"m{i}", "conversation_id": "1", "kind": "note", "author_type": "system",
                               "created_at": "2024-01-01T00:00:00Z", "body_text": "x" * 1000} for i in range(6)])
    assert len(validator._pending_ids) == 6
    assert "body_text" not in validator._pending
    validator.validate_chunk([{"id": f"n{i}", "conversation_id": "1", "kind": "note", "author_type": "system",
                               "created_at": "2024-01-01T00:00:00Z"} for i in range(6)])
    assert validator._pending_ids == []  # 12 rows reached the frame size: validated and let go
    outcome = validator.finish()
    assert outcome.records == 12 and all(e.success for e in outcome.expectations)


def test_row_counts_are_left_to_a_run_over_the_whole_object():
    suite = {"name": "t", "expectations": [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 5}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    ]}
    records = [{"id": "a"}, {"id": "b"}]
    whole = SuiteValidator("tags", suite, frame_rows=1)
    whole.validate_chunk(records)
    count = whole.finish().expectations[0]
    assert (count.success, count.observed) == (False, 2)

    some_shards = SuiteValidator("tags", suite, whole_object=False)
    some_shards.validate_chunk(records)
    outcome = some_shards.finish()
    assert outcome.expectations[0].evaluated == 0 and outcome.expectations[0].success
    assert outcome.expectations[1].evaluated == 2


def test_the_digest_runs_report_exactly_the_values_seen_before():
    import hashlib
    import random

    from migration_assets.quality import _DigestSet

    rnd = random.Random(1)
    digests, seen = _DigestSet(), set()
    for _ in range(200):
        values = [rnd.randrange(20_000) for _ in range(rnd.randint(1, 500))]
        expected = []
        for position, value in enumerate(values):
            if value in seen:
                expected.append(position)
            seen.add(value)
        assert digests.add([hashlib.blake2b(str(v).encode(), digest_size=16).digest() for v in values]) == expected
    runs = [len(run) for run in digests._high._runs]
    assert sum(runs) == len(seen) and runs == sorted(runs, reverse=True) and len(runs) <= 15


def test_a_value_is_taken_as_seen_only_when_both_digest_halves_were():
    from migration_assets.quality import _DigestSet

    digests = _DigestSet()
    first, high_only, low_only = (a.to_bytes(8, "little") + b.to_bytes(8, "little") for a, b in
                                  ((1, 2), (1, 3), (4, 2)))
    assert digests.add([first, high_only, low_only]) == []  # each half matches an earlier value, not both
    assert digests.add([low_only, first]) == [0, 1]


def test_a_suite_that_repeats_an_expectation_on_a_column_is_refused():
    unique = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}
    with pytest.raises(ValueError, match="repeats expect_column_values_to_be_unique on 'id'; merge them"):
        SuiteValidator("tags", {"expectations": [unique, {**unique, "meta": {"quarantine": True}}]})
    name = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "name"}}
    with pytest.raises(ValueError, match="merge them"):
        SuiteValidator("tags", {"expectations": [name, name]})
    other_column = {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "name"}}
    SuiteValidator("tags", {"expectations": [unique, other_column, name]})  # one of each per column is fine


def _contacts_suite(on_failure: dict) -> dict:
    return {"name": "contacts", "expectations": [
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": "^[^@]+@[^@]+$"},
         "severity": "warning", "meta": {"description": "email is an address", **on_failure}}]}


@pytest.mark.parametrize(("chunk", "frame_rows"), [(100, 100), (3, 4)])
def test_a_clear_value_expectation_keeps_the_record_and_names_the_value(chunk, frame_rows):
    records = [{"id": f"c{i}", "email": f"p{i}@example.com" if i % 5 else f"p{i}(at)example.com"}
               for i in range(30)]
    validator = SuiteValidator("contacts", _contacts_suite({"on_failure": "clear_value",
                                                             "change_rule": "email-invalid"}),
                               frame_rows=frame_rows)
    for start in range(0, len(records), chunk):
        validator.validate_chunk(records[start:start + chunk])
    outcome = validator.finish()
    assert outcome.quarantine_reasons() == {}  # nothing quarantined: the value goes, the record stays
    cleared = outcome.cleared_values()
    assert sorted(cleared) == sorted(f"c{i}" for i in range(0, 30, 5))
    (change,) = cleared["c10"]
    assert (change.rule, change.field, change.original) == ("email-invalid", "email", "p10(at)example.com")
    assert change.kept_in and not change.pending and "email is an address" in change.detail
    assert outcome.expectations[0].as_metadata()["cleared_count"] == 6


@pytest.mark.parametrize("exp", [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "email"}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "email", "regex": "@"}, "no_rule": True},
])
def test_a_clear_value_expectation_that_cannot_name_a_value_is_refused(exp):
    meta = {"on_failure": "clear_value"} | ({} if exp.pop("no_rule", False) else {"change_rule": "email-invalid"})
    with pytest.raises(ValueError, match="cannot clear a value"):
        SuiteValidator("contacts", {"expectations": [{**exp, "severity": "warning", "meta": meta}]})


def test_the_shipped_contacts_suite_clears_an_invalid_email_instead_of_quarantining_the_contact():
    outcome = validate_chunks("contacts", [[{"id": "c1", "email": "jan@@voorbeeld"}, {"id": "c2", "email": "a@b.nl"}]])
    assert outcome.quarantine_reasons() == {}
    assert [(c.rule, c.field) for c in outcome.cleared_values()["c1"]] == [("email-invalid", "email")]


def test_a_cleared_list_value_is_kept_as_the_record_held_it_not_as_frame_text():
    suite = {"expectations": [{"type": "expect_column_values_to_match_regex", "severity": "warning",
                               "kwargs": {"column": "group_ids", "regex": r'^\[("g\d+"(, )?)*\]$'},
                               "meta": {"on_failure": "clear_value", "change_rule": "groups-invalid"}}]}
    validator = SuiteValidator("contacts", suite)
    validator.validate_chunk([{"id": "c1", "group_ids": ["g1", "g2"]}, {"id": "c2", "group_ids": ["x y"]}])
    cleared = validator.finish().cleared_values()
    assert list(cleared) == ["c2"] and cleared["c2"][0].original == ["x y"]
