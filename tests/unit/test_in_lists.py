"""IN lists cut by the encoded length of the query's URI (connector/salesforce/in_lists.py)."""

from __future__ import annotations

import pytest
from simple_salesforce.format import format_soql

from connector.salesforce.in_lists import URI_BUDGET, in_pieces, query_uri_length

PERSON = "SELECT Id, Email FROM Lead WHERE Email IN {values} ORDER BY CreatedDate ASC"
MEMBERS = ("SELECT Id FROM CampaignMember WHERE CampaignId IN {campaigns} "
           "AND (LeadId IN {persons} OR ContactId IN {persons})")


def encoded(soql: str) -> int:
    return query_uri_length("", soql)


@pytest.mark.parametrize(("template", "split", "values", "other"), [
    (PERSON, "values", [f"follower.{n:05d}@long-company-domain.example.com"
                        for n in range(2000)], {}),
    (PERSON, "values", [f"o{n:027d}" for n in range(2000)], {}),  # OpenIDs: 28 characters
    (PERSON, "values", [f"王小明{n}@例子.公司" for n in range(500)], {}),  # 9 bytes a character
    (PERSON, "values", [f"O'Neil\\{n}" for n in range(2000)], {}),  # escaped by format_soql
    (MEMBERS, "persons", [f"00Q{n:015d}" for n in range(1000)],
     {"campaigns": [f"701{n:015d}" for n in range(50)]}),
])
def test_pieces_are_as_long_as_the_budget_allows(template, split, values, other):
    room = URI_BUDGET - 60
    pieces = list(in_pieces(template, (), {**other, split: values}, split, room))
    assert [v for piece, _ in pieces for v in piece] == values
    for n, (piece, soql) in enumerate(pieces):
        assert soql == format_soql(template, **other, **{split: piece})
        assert encoded(soql) <= room
        if n + 1 < len(pieces):  # one more value would not fit
            bigger = piece + [pieces[n + 1][0][0]]
            assert encoded(format_soql(template, **other, **{split: bigger})) > room


def test_the_same_count_makes_more_queries_of_long_values():
    # 75 characters, 86 bytes a value in the URL: 200 of them would be 17 KB.
    emails = [f"wechat.follower.{n:05d}.e{n:020d}@long-company-domain.example.com"
              for n in range(2000)]
    ids = [f"00Q{n:015d}" for n in range(2000)]  # 27 bytes a value
    cut = {name: len(list(in_pieces(PERSON, (), {"values": values}, "values", URI_BUDGET)))
           for name, values in (("emails", emails), ("ids", ids))}
    assert cut == {"emails": 13, "ids": 4}


def test_an_empty_list_makes_no_query_and_a_huge_value_is_refused():
    assert list(in_pieces(PERSON, (), {"values": []}, "values", URI_BUDGET)) == []
    with pytest.raises(ValueError, match="20000 characters"):
        list(in_pieces(PERSON, (), {"values": ["a", "x" * 20_000]}, "values", URI_BUDGET))
