"""Property tests: for random records and random policies, ``view`` never emits a denied or aggregate-only
field, raw fields are passed unchanged, and masked output never contains the masked characters."""

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import DEFAULT_CATALOGUE, MASK_PRESETS, MaskSpec, Party, Policy, Transform, apply_mask
from policies.policy import RoleSpec, Rule

FIELDS = sorted(n for n, s in DEFAULT_CATALOGUE.items() if not s.forbidden)
TAGS = sorted(DEFAULT_CATALOGUE.tags)
ROLES = ("platform", "trustee", "rating_agency", "investor", "auditor", "regulator", "borrower")
PURPOSES = ("servicing", "rating", "audit")
EVENTS = ("perfection_event", "sample_review_session")
GENERALIZERS: dict[str, dict[str, Any]] = {
    f: {"kind": "bands", "edges": [0, 1000, 100000]} for f, s in DEFAULT_CATALOGUE.items() if s.type == "int"
}
GENERALIZERS |= {
    f: {"kind": "date", "grain": "year"} for f, s in DEFAULT_CATALOGUE.items() if s.type == "date"
}
GENERALIZERS |= {
    f: {"kind": "enum_map", "mapping": {}, "default": "ANY"}
    for f, s in DEFAULT_CATALOGUE.items()
    if s.type not in ("int", "date")
}
POOL = "pool-1"
KEY = b"\x01" * 32


def value_for(field: str) -> st.SearchStrategy[object]:
    spec = DEFAULT_CATALOGUE[field]
    if spec.type == "int":
        return st.one_of(st.none(), st.integers(min_value=0, max_value=10**12))
    if spec.type == "date":
        return st.dates().map(lambda d: d.isoformat())
    if spec.type == "enum":
        return st.sampled_from(spec.enum_values)
    return st.one_of(
        st.text(alphabet="0123456789", min_size=0, max_size=20),
        st.text(alphabet="0123456789Xx +-", min_size=0, max_size=22),
        st.text(min_size=0, max_size=30),
    )


records = st.fixed_dictionaries(
    {"pool_id": st.just(POOL), "obligor_pseudo_id": st.sampled_from(["A", "B"])},
    optional={f: value_for(f) for f in FIELDS if f not in ("pool_id", "obligor_pseudo_id")},
)

mask_specs = st.one_of(
    st.sampled_from(sorted(MASK_PRESETS.values(), key=repr)),
    st.builds(
        MaskSpec,
        keep_first=st.integers(0, 8),
        keep_last=st.integers(0, 8),
        mask_char=st.sampled_from("*#"),
        strip_chars=st.sampled_from(["", " -"]),
    ),
)


@st.composite
def rules(draw: st.DrawFn, i: int) -> Rule:
    return Rule(
        id=f"r{i}",
        roles=frozenset(draw(st.sets(st.sampled_from(ROLES), min_size=1))),
        transform=draw(st.sampled_from(list(Transform))),
        fields=frozenset(draw(st.sets(st.sampled_from(FIELDS), max_size=6))),
        tags=frozenset(draw(st.sets(st.sampled_from(TAGS), max_size=2))),
        levels=frozenset(draw(st.sets(st.integers(1, 5), max_size=1))),
        all_fields=draw(st.booleans()) and draw(st.booleans()),
        purposes=frozenset(draw(st.sets(st.sampled_from(PURPOSES), max_size=2))),
        when_events=frozenset(draw(st.sets(st.sampled_from(EVENTS), max_size=1))),
        unless_events=frozenset(draw(st.sets(st.sampled_from(EVENTS), max_size=1))),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    n = draw(st.integers(0, 12))
    return Policy(
        catalogue=DEFAULT_CATALOGUE,
        roles={
            r: RoleSpec(
                name=r, purposes=frozenset(PURPOSES), row_scope="own_obligor" if r == "borrower" else "pool"
            )
            for r in ROLES
        },
        rules=[draw(rules(i)) for i in range(n)],
        events=EVENTS,
        masks={f: draw(mask_specs) for f in draw(st.sets(st.sampled_from(FIELDS), max_size=10))},
        generalizers=GENERALIZERS,
    )


def expected_mask(value: object, spec: MaskSpec) -> str:
    """An independent restatement of the masking contract."""
    text = value if isinstance(value, str) else str(value)
    if spec.kind == "address":
        return text  # checked separately
    text = "".join(c for c in text if c not in spec.strip_chars)
    for p in spec.strip_prefixes:
        if text.startswith(p):
            text = text[len(p) :]
            break
    n, kf, kl = len(text), spec.keep_first, spec.keep_last
    if n <= kf + kl:
        return spec.mask_char * n
    return text[:kf] + spec.mask_char * (n - kf - kl) + text[n - kl :]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies(),
    recs=st.lists(records, min_size=1, max_size=4),
    role=st.sampled_from((*ROLES, "stranger")),
    purpose=st.sampled_from((*PURPOSES, "unknown_purpose")),
    events=st.sets(st.sampled_from(EVENTS)),
)
def test_view_emits_only_permitted_fields_in_permitted_form(
    policy: Policy, recs: list[dict[str, object]], role: str, purpose: str, events: set[str]
) -> None:
    party = Party(id="p", role=role, pools=frozenset({POOL}), obligor_keys=frozenset({"A"}))
    rows = policy.view(party, recs, purpose, pool_id=POOL, events=events, pseudonym_key=KEY)
    decisions = {f: policy.decide(party, f, purpose, pool_id=POOL, events=events) for f in FIELDS}
    if role == "stranger" or purpose == "unknown_purpose":
        assert rows == []
    in_scope = [r for r in recs if role != "borrower" or r["obligor_pseudo_id"] == "A"]
    if rows:
        assert len(rows) == len(in_scope)
    for src, out in zip(in_scope, rows, strict=False):
        for field, value in out.items():
            d = decisions[field]
            assert d.transform not in (Transform.DENY, Transform.AGGREGATE_ONLY), (field, d)
            assert field in src
            if d.transform is Transform.RAW:
                assert value == src[field]
            elif d.transform is Transform.MASK and src[field] is not None:
                spec = policy.masks.get(field, MaskSpec())
                assert value == apply_mask(src[field], spec)
                if spec.kind == "keep":
                    assert value == expected_mask(src[field], spec)
                    assert isinstance(value, str)
                    kl = spec.keep_last
                    hidden = value[spec.keep_first : len(value) - kl]
                    assert set(hidden) <= {spec.mask_char}
                else:
                    # Address masks keep a prefix of the text form (a random policy may put
                    # one on a non-string field; apply_mask masks str(value) then).
                    assert isinstance(value, str)
                    assert value.endswith(spec.mask_char * 4)
                    assert str(src[field]).startswith(value[:-4])
            elif d.transform is Transform.PSEUDONYMIZE and src[field] is not None:
                assert value != src[field]
        emitted = {f for f, d in decisions.items() if d.transform.emits_value and f in src}
        assert set(out) == emitted


@given(
    value=st.text(alphabet="0123456789", min_size=0, max_size=24), kf=st.integers(0, 6), kl=st.integers(0, 6)
)
def test_masked_digits_never_appear_in_masked_positions(value: str, kf: int, kl: int) -> None:
    out = apply_mask(value, MaskSpec(keep_first=kf, keep_last=kl))
    assert len(out) == len(value)
    if len(value) <= kf + kl:
        assert set(out) <= {"*"}
    else:
        assert out[:kf] == value[:kf]
        assert out[len(value) - kl :] == value[len(value) - kl :]
        assert set(out[kf : len(value) - kl]) == {"*"}
