"""``poolproof-audit report``: the investor report shows only what verified, each figure with its evidence.

A demo pool is sealed over three consecutive monthly cut-offs (:mod:`tests.report.sealed_chain`), a
witness cosigns every header after the full check, and the gateway side answers the investor's claims.
The tests read the rendered page back (every figure element and the embedded JSON) and check each figure
against the bundles, verified again here independently of the report's code, and against a plain-pandas
reading of the raw tapes (:mod:`tests.reference.abs_metrics`).
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from proofs import bundle
from proofs.audit_cli import main as audit_main
from proofs.claim_bundle import ExpectedClaim, verify_claim_answer
from proofs.claims import Disclosure, RatioClaim
from proofs.report import render_report
from proofs.report.messages import LANGS, catalogue_keys, text
from proofs.signing import load_public_key
from proofs.witness import WitnessPolicy
from tests.reference import abs_metrics as ref
from tests.report.sealed_chain import TRIGGERS, DemoChain, seal_demo_chain

# --- the page, read back --------------------------------------------------------------------------


class PageReader(HTMLParser):
    """Every figure element, unverified row, chart, link and the embedded JSON of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: list[dict[str, str]] = []
        self.unverified: list[dict[str, str]] = []
        self.charts: list[dict[str, str]] = []
        self.urls: list[str] = []
        self.tags: set[str] = set()
        self.data_json = ""
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if "data-figure-id" in a:
            self.figures.append(a)
        if "data-unverified-bundle" in a:
            self.unverified.append(a)
        if "data-chart" in a:
            self.charts.append(a)
        for name in ("href", "src", "xlink:href", "action"):
            if name in a:
                self.urls.append(a[name])
        self._in_data = tag == "script" and a.get("id") == "report-data"

    def handle_endtag(self, tag: str) -> None:
        self._in_data = False

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.data_json += data


def read_page(path: Path) -> PageReader:
    reader = PageReader()
    reader.feed(path.read_text(encoding="utf-8"))
    return reader


# --- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> DemoChain:
    root = tmp_path_factory.mktemp("report-chain")
    return seal_demo_chain(root / "bundles", root / "tapes")


def _policy(chain: DemoChain) -> WitnessPolicy:
    return WitnessPolicy((load_public_key(chain.witness_pub),))


@pytest.fixture(scope="module")
def rendered(chain: DemoChain, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    out = tmp_path_factory.mktemp("report-out")
    html, pdf = out / "report.html", out / "report.pdf"
    code = audit_main(
        [
            "report", str(chain.folder), "--key", str(chain.gateway_pub),
            "--require-witness", str(chain.witness_pub),
            "--out", str(html), "--pdf", str(pdf), "--cumulative-default-trigger", "300",
        ]
    )  # fmt: skip
    return html, pdf, code


_VERIFIED: dict[Path, tuple[dict[str, Any], Any]] = {}


def _verified_bundle(chain: DemoChain, name: str) -> tuple[dict[str, Any], Any]:
    """A bundle verified here with the public API alone, as the reader of the report would (once per file)."""
    path = chain.folder / name
    if path not in _VERIFIED:
        doc = bundle.load_bundle(path)
        verified = verify_claim_answer(
            doc, load_public_key(chain.gateway_pub), expected=ExpectedClaim(), witnesses=_policy(chain)
        )
        _VERIFIED[path] = (doc, verified)
    return _VERIFIED[path]


def _half_away(value: Fraction, scale: int) -> int:
    scaled = value * scale
    sign = -1 if scaled < 0 else 1
    return sign * int(abs(scaled) + Fraction(1, 2))


def _display(value: Fraction, unit: str) -> str:
    """The printed number of a figure, computed here from its exact value."""
    if unit == "fraction":
        cents = _half_away(value * 100, 100)
    elif unit == "minor":
        cents = _half_away(value, 1)
    else:
        return f"{int(value):,}"
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d}"


def _exact(text_value: str) -> Fraction:
    return Fraction(text_value)


# --- the figures against the bundles ----------------------------------------------------------------

#: Derived figures, recomputed here from the disclosed integers: numerator and denominator metric.
DERIVED = {
    "delinquency_1plus_ratio": ("delinquent_1plus_balance", "pool_balance"),
    "delinquency_31plus_ratio": ("delinquent_31plus_balance", "pool_balance"),
    "delinquency_61plus_ratio": ("delinquent_61plus_balance", "pool_balance"),
    "delinquency_90plus_or_defaulted_ratio": (
        "delinquent_90plus_or_defaulted_balance",
        "outstanding_balance",
    ),
    "smm": ("unscheduled_principal", "rate_base_balance"),
    "mdr": ("defaulted_principal", "rate_base_balance"),
    "cpr": ("unscheduled_principal", "rate_base_balance"),
    "cdr": ("defaulted_principal", "rate_base_balance"),
}


def _disclosed(chain: DemoChain, names: list[str]) -> dict[str, dict[str, int]]:
    """``{cutoff: {metric: value}}`` of the disclosure bundles among ``names``, each verified here."""
    out: dict[str, dict[str, int]] = {}
    for name in names:
        doc, verified = _verified_bundle(chain, name)
        if isinstance(verified.statement, Disclosure):
            out.setdefault(verified.header.context.cutoff_date, {})[verified.statement.metric] = int(
                doc["proof"]["value"]
            )
    return out


def _expected_value(metric: str, cutoff: str, values: dict[str, dict[str, int]]) -> Fraction:
    month = values[cutoff]
    if metric in DERIVED:
        num, den = (month[m] for m in DERIVED[metric])
        x = Fraction(num, den) if den else Fraction(0)
        return 1 - (1 - x) ** 12 if metric in ("cpr", "cdr") else x
    if metric == "net_loss":
        return Fraction(month["written_off"] - month["recoveries"])
    if metric == "loss_severity":
        w = month["written_off"]
        return Fraction(w - month["recoveries"], w) if w else Fraction(0)
    if metric in ("cumulative_defaulted_principal", "cumulative_default_rate"):
        cutoffs = sorted(c for c in values if c <= cutoff)
        total = sum(values[c]["defaulted_principal"] for c in cutoffs)
        if metric == "cumulative_defaulted_principal":
            return Fraction(total)
        return Fraction(total, values[min(values)]["beginning_balance"])
    raise AssertionError(f"no independent recomputation for derived figure {metric}")


def test_the_report_verifies_every_bundle_and_exits_0(
    rendered: tuple[Path, Path, int], chain: DemoChain
) -> None:
    html, _, code = rendered
    assert code == 0
    page = read_page(html)
    data = json.loads(page.data_json)
    assert data["unverified"] == []
    assert data["cutoffs"] == [m.cutoff for m in chain.months]
    assert data["bundles_checked"] == sum(len(m.files) for m in chain.months)
    assert page.unverified == []


def test_every_figure_on_the_page_is_what_its_bundles_prove(
    rendered: tuple[Path, Path, int], chain: DemoChain
) -> None:
    page = read_page(rendered[0])
    assert len(page.figures) > 60
    all_names = [n for m in chain.months for n in m.files]
    values = _disclosed(chain, all_names)
    seen_bases = set()
    for fig in page.figures:
        names = fig["data-bundles"].split()
        assert names, fig
        cutoff, metric, basis = fig["data-cutoff"], fig["data-metric"], fig["data-basis"]
        seen_bases.add(basis)
        for name in names:  # every bundle a figure links to verifies, and is about its cut-off or before
            _, verified = _verified_bundle(chain, name)
            assert verified.header.context.cutoff_date <= cutoff
            assert verified.witnesses  # cosigned by the witness the investor requires
        if basis == "disclosure":
            (name,) = names
            doc, verified = _verified_bundle(chain, name)
            assert verified.statement == Disclosure(metric)
            assert verified.header.context.cutoff_date == cutoff
            assert fig["data-value"] == doc["proof"]["value"]
        elif basis == "threshold":
            (name,) = names
            _, verified = _verified_bundle(chain, name)
            statement = verified.statement
            assert isinstance(statement, RatioClaim)
            assert statement.metric_num == metric
            assert fig["data-display"] == f"{'≤' if statement.op == '<=' else '≥'} " + _display(
                Fraction(statement.p, statement.q), "fraction"
            )
            continue
        elif basis == "witness":
            (name,) = names
            _, verified = _verified_bundle(chain, name)
            expected = {
                "leaf_count": verified.header.leaf_count,
                "balance_cap": verified.header.lanes.circuit.balance_cap,  # type: ignore[union-attr]
            }[metric]
            assert fig["data-value"] == str(expected)
        else:
            assert basis == "derived"
            assert _exact(fig["data-value"]) == _expected_value(metric, cutoff, values)
        assert fig["data-display"] == _display(_exact(fig["data-value"]), fig["data-unit"])
    assert seen_bases == {"disclosure", "threshold", "witness", "derived"}


def test_the_embedded_json_and_the_charts_carry_exactly_the_figures_on_the_page(
    rendered: tuple[Path, Path, int],
) -> None:
    page = read_page(rendered[0])
    data = json.loads(page.data_json)
    by_id = {f["id"]: f for f in data["figures"]}
    for fig in page.figures:
        doc = by_id[fig["data-figure-id"]]
        assert (doc.get("value", ""), doc["unit"], doc["basis"]) == (
            fig["data-value"],
            fig["data-unit"],
            fig["data-basis"],
        )
        assert doc["bundles"] == fig["data-bundles"].split()
    assert {c["data-chart"] for c in page.charts} >= {"buckets", "rates", "cumulative"}
    for chart in page.charts:
        drawn = chart["data-figures"].split()
        assert drawn == data["charts"][chart["data-chart"]]
        assert set(drawn) <= set(by_id)
        assert len({by_id[i]["cutoff"] for i in drawn}) >= 2  # a trend spans the chain


def test_the_figures_equal_a_pandas_reading_of_the_raw_tapes(
    rendered: tuple[Path, Path, int], chain: DemoChain
) -> None:
    page = read_page(rendered[0])
    tapes = {m.cutoff: m.tape_path for m in chain.months}
    reference = {c: ref.abs_metrics(ref.tape_loans(p, date.fromisoformat(c))) for c, p in tapes.items()}
    compared = 0
    for fig in page.figures:
        metric, cutoff, value = fig["data-metric"], fig["data-cutoff"], fig["data-value"]
        figures = reference[cutoff]
        if fig["data-basis"] == "disclosure" and metric in figures:
            assert int(value) == figures[metric], (cutoff, metric)
            compared += 1
        elif fig["data-unit"] == "fraction" and f"{metric}_ppm" in figures and value:
            assert _half_away(_exact(value), 1_000_000) == figures[f"{metric}_ppm"], (cutoff, metric)
            compared += 1
        elif metric == "net_loss":
            assert int(value) == figures["net_loss"]
            compared += 1
        elif metric == "leaf_count":
            assert int(value) == figures["loan_count"]
            compared += 1
    assert compared > 60
    # The demo pool has every kind of movement in the chain, so the comparisons above are not all zeros.
    assert any(reference[c]["delinquent_1plus_balance"] for c in tapes)
    assert any(reference[c]["unscheduled_principal"] for c in tapes)


def test_every_trigger_claim_is_in_the_trigger_table_as_a_proven_threshold(
    rendered: tuple[Path, Path, int],
) -> None:
    html = rendered[0].read_text(encoding="utf-8")
    section = html[html.index('<section id="triggers">') : html.index('<section id="waterfall">')]
    reader = PageReader()
    reader.feed(section)
    assert len(reader.figures) == len(TRIGGERS) * 3
    assert {f["data-basis"] for f in reader.figures} == {"threshold"}


# --- what fails is not drawn ------------------------------------------------------------------------


def _month_copy(chain: DemoChain, tmp_path: Path, month: int) -> Path:
    """A folder with one month's bundles of the chain (the checks are per bundle; one month is enough)."""
    folder = tmp_path / "bundles"
    folder.mkdir()
    for name in chain.months[month].files:
        shutil.copy(chain.folder / name, folder / name)
    return folder


def _report(folder: Path, chain: DemoChain, out: Path, *extra: str) -> int:
    return audit_main(
        ["report", str(folder), "--key", str(chain.gateway_pub), "--require-witness", str(chain.witness_pub),
         "--out", str(out), *extra]
    )  # fmt: skip


def test_a_tampered_disclosure_is_marked_unverified_never_drawn_and_exits_1(
    chain: DemoChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _month_copy(chain, tmp_path, -1)
    latest = chain.months[-1].cutoff
    name = f"{latest}-pool_balance.json"
    doc = bundle.load_bundle(folder / name)
    doc["proof"]["value"] = str(int(doc["proof"]["value"]) + 100)  # a prover claiming 1 CNY more
    (folder / name).write_bytes(bundle.dump_bundle(doc))
    out = tmp_path / "report.html"
    assert _report(folder, chain, out) == 1
    assert "report.unverified" not in capsys.readouterr().out
    page = read_page(out)
    marked = [u for u in page.unverified if u["data-unverified-bundle"] == name]
    assert marked
    assert {u["data-check"] for u in marked} == {"claim.disclosure"}
    assert any(u.get("data-metric") == "pool_balance" for u in marked)  # in place of the figure
    # Nothing on the page rests on the tampered bundle: not the figure, not the ratios over it.
    assert all(name not in f["data-bundles"].split() for f in page.figures)
    latest_metrics = {f["data-metric"] for f in page.figures if f["data-cutoff"] == latest}
    assert "pool_balance" not in latest_metrics
    assert "delinquency_1plus_ratio" not in latest_metrics
    assert "outstanding_balance" in latest_metrics  # the others still verify
    assert json.loads(page.data_json)["unverified"][0]["check"] == "claim.disclosure"
    assert "FAILED" in out.read_text(encoding="utf-8")


def test_a_threshold_claim_with_a_tampered_statement_fails_its_range_proof(
    chain: DemoChain, tmp_path: Path
) -> None:
    folder = _month_copy(chain, tmp_path, 0)
    name = f"{chain.months[0].cutoff}-trigger-1.json"
    doc = bundle.load_bundle(folder / name)
    doc["statement"]["p"] = 1  # claim a tighter trigger than was proven
    (folder / name).write_bytes(bundle.dump_bundle(doc))
    out = tmp_path / "report.html"
    assert _report(folder, chain, out) == 1
    page = read_page(out)
    (failed,) = {u["data-check"] for u in page.unverified if u["data-unverified-bundle"] == name}
    assert failed.startswith("claim.")
    assert all(name not in f["data-bundles"].split() for f in page.figures)


def test_a_witness_the_investor_does_not_require_draws_nothing(chain: DemoChain, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from proofs.signing import public_key_to_pem

    other = tmp_path / "other-witness.pub"
    other.write_bytes(public_key_to_pem(Ed25519PrivateKey.generate().public_key()))
    out = tmp_path / "report.html"
    code = audit_main(
        [
            "report",
            str(chain.folder),
            "--key",
            str(chain.gateway_pub),
            "--require-witness",
            str(other),
            "--out",
            str(out),
        ]
    )
    assert code == 1
    page = read_page(out)
    assert page.figures == []
    assert {u["data-check"] for u in page.unverified} == {"witness.missing"}


def test_a_header_that_does_not_extend_the_chain_fails_chain_link(chain: DemoChain, tmp_path: Path) -> None:
    # A second chain signed by the same gateway key for the same pool: its second month names its own
    # first month as predecessor, not the first month the investor holds.
    other = seal_demo_chain(tmp_path / "other", tmp_path / "other-tapes", loans=8, months=(5, 6),
                            gateway_key=chain.gateway_key)  # fmt: skip
    folder = tmp_path / "bundles"
    folder.mkdir()
    for name in chain.months[0].files[:3]:
        shutil.copy(chain.folder / name, folder / name)
    spliced = other.months[1].files[0]
    shutil.copy(other.folder / spliced, folder / spliced)
    out = tmp_path / "report.html"
    code = audit_main(
        ["report", str(folder), "--key", str(chain.gateway_pub), "--no-witness", "--out", str(out)]
    )
    assert code == 1
    page = read_page(out)
    assert {(u["data-unverified-bundle"], u["data-check"]) for u in page.unverified} == {
        (spliced, "chain.link")
    }
    assert {f["data-cutoff"] for f in page.figures} == {chain.months[0].cutoff}


def test_two_signed_headers_for_one_cut_off_fail_every_bundle_on_both_as_a_fork(
    chain: DemoChain, tmp_path: Path
) -> None:
    # The same gateway key signs a second, different header for the first cut-off (a split view).
    other = seal_demo_chain(tmp_path / "other", tmp_path / "other-tapes", loans=8, months=(5,),
                            gateway_key=chain.gateway_key)  # fmt: skip
    folder = tmp_path / "bundles"
    folder.mkdir()
    mine = chain.months[0].files[:2]
    for name in mine:
        shutil.copy(chain.folder / name, folder / name)
    forked = "fork-" + other.months[0].files[0]
    shutil.copy(other.folder / other.months[0].files[0], folder / forked)
    out = tmp_path / "report.html"
    code = audit_main(
        ["report", str(folder), "--key", str(chain.gateway_pub), "--no-witness", "--out", str(out)]
    )
    assert code == 1
    page = read_page(out)
    assert {(u["data-unverified-bundle"], u["data-check"]) for u in page.unverified} == {
        (name, "chain.fork") for name in [*mine, forked]
    }
    assert page.figures == []


def test_without_a_witness_policy_the_report_is_not_made(chain: DemoChain, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert audit_main(["report", str(chain.folder), "--key", str(chain.gateway_pub), "--out", str(out)]) == 2
    assert not out.exists()


def test_an_empty_folder_is_unusable_input(
    chain: DemoChain, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = audit_main(
        [
            "report",
            str(empty),
            "--key",
            str(chain.gateway_pub),
            "--no-witness",
            "--out",
            str(tmp_path / "r.html"),
        ]
    )
    assert code == 2
    assert "no bundle" in capsys.readouterr().err


# --- languages, units, self-containment, PDF --------------------------------------------------------


def test_every_catalogue_text_exists_in_both_languages() -> None:
    for key in catalogue_keys():
        assert all(text(key, lang, **_FORMAT_VALUES).strip() for lang in LANGS), key


_FORMAT_VALUES = {
    "n": 1, "k": 1, "failed": 1, "check": "c", "message": "m", "op": "<=", "level": "1",
    "label": "l", "currency": "CNY", "currency_zh": "元", "period": 1, "cutoff": "2024-07-31",
    "clear": 1, "need": 3,
}  # fmt: skip


@pytest.fixture(scope="module")
def rendered_zh(chain: DemoChain, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    out = tmp_path_factory.mktemp("report-zh")
    folder = _month_copy(chain, out, -1)
    html, pdf = out / "report-zh.html", out / "report-zh.pdf"
    result = render_report(
        folder, load_public_key(chain.gateway_pub), out=html, pdf=pdf, witnesses=_policy(chain), lang="zh"
    )
    return html, pdf, result.exit_code


def test_lang_zh_renders_chinese_labels_and_units(rendered_zh: tuple[Path, Path, int]) -> None:
    html_path, _, code = rendered_zh
    assert code == 0
    html = html_path.read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in html
    for label in (
        "投资者报告",
        "资产池概况",
        "逾期分布",
        "违约、早偿与损失",
        "快照链趋势",
        "精确披露(已证明)",
        "见证人联署",
    ):
        assert label in html
    assert re.search(r'data-unit="minor"[^>]*>.*?<span\s+class="unit">元</span>', html, re.DOTALL)
    assert "Pool summary" not in html


def test_every_figure_on_the_page_has_its_unit(rendered: tuple[Path, Path, int]) -> None:
    html = rendered[0].read_text(encoding="utf-8")
    cells = re.findall(r'<td\s+class="figure num"[^>]*>(.*?)</td>', html, re.DOTALL)
    assert cells
    for cell in cells:
        unit = re.search(r'<span\s+class="unit">([^<]+)</span>', cell)
        assert unit, cell
        assert unit.group(1) in ("CNY", "loans", "%"), cell
    for caption in re.findall(r"<figcaption>(.*?)</figcaption>", html, re.DOTALL):
        assert caption.endswith(("(CNY)", "(%)"))


def test_the_page_opens_with_no_network(rendered: tuple[Path, Path, int]) -> None:
    html = rendered[0].read_text(encoding="utf-8")
    page = read_page(rendered[0])
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html, re.IGNORECASE)
    for fetching in ("<link", "@import"):
        assert fetching not in html
    assert all(ref.startswith("#") for ref in re.findall(r"url\(([^)]*)\)", html))  # SVG clip paths only
    assert "img" not in page.tags  # charts are inline SVG
    assert "svg" in page.tags
    for url in page.urls:
        assert not re.match(r"[a-z][a-z0-9+.-]*:", url, re.IGNORECASE), url  # relative links only
        assert url.startswith("#") or url.endswith(".json"), url


def test_the_bundle_links_resolve_from_where_the_report_is(rendered: tuple[Path, Path, int]) -> None:
    from urllib.parse import unquote

    page = read_page(rendered[0])
    links = [u for u in page.urls if u.endswith(".json")]
    assert links
    for link in links:
        assert (rendered[0].parent / unquote(link)).is_file(), link


def test_the_pdf_is_a_valid_pdf_with_the_same_figures(rendered: tuple[Path, Path, int]) -> None:
    html, pdf, _ = rendered
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 2
    content = " ".join(page.extract_text() for page in reader.pages)
    flat = re.sub(r"\s+", " ", content)
    assert "Investor report" in flat
    assert "Pool summary" in flat
    for fig in read_page(html).figures:
        number = fig["data-display"].replace("≤", "<=").replace("≥", ">=")
        assert number in flat, (fig["data-figure-id"], number)


def test_the_pdf_in_chinese_is_valid_and_uses_the_cid_font(rendered_zh: tuple[Path, Path, int]) -> None:
    pdf = rendered_zh[1]
    reader = PdfReader(pdf)
    assert len(reader.pages) >= 2
    fonts = {
        str(font.get_object().get("/BaseFont"))
        for page in reader.pages
        for font in (page["/Resources"].get("/Font") or {}).values()
    }
    assert any("STSong-Light" in f for f in fonts), fonts
    content = " ".join(page.extract_text() for page in reader.pages)
    for key in ("title", "section.summary", "section.delinquency", "section.legend"):
        assert text(key, "zh") in content, key  # the Chinese labels are text, not missing glyphs


# --- fetching from a gateway ------------------------------------------------------------------------


class StandInGateway:
    """The investor routes a report fetch uses, on 127.0.0.1, answering from the sealed demo chain.

    ``replay`` answers every claim with the bundle the gateway made earlier for another nonce (what a
    replaying or caching gateway would send); ``refuse`` is a metric the disclosure control refuses.
    """

    API_KEY = "ppk_report_test"

    def __init__(self, chain: DemoChain, *, replay: bool = False, refuse: str = "interest") -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        month = chain.months[-1]
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _answer(self, status: int, doc: object) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {gateway.API_KEY}":
                    self._answer(401, {"message": "unknown API key"})
                    return False
                return True

            def do_GET(self) -> None:
                if not self._authorised():
                    return
                pool = "/investor/pools/DEMO-CN1"
                routes = {
                    "/investor/pools": [{"pool_id": "DEMO-CN1"}],
                    f"{pool}/snapshots": [{"cutoff_date": month.cutoff}],
                    f"{pool}/snapshots/{month.cutoff}/header": month.header,
                }
                if self.path in routes:
                    self._answer(200, routes[self.path])
                else:
                    self._answer(404, {"message": "no such route"})

            def do_POST(self) -> None:
                if not self._authorised():
                    return
                from proofs.claims import statement_from_dict

                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                statement = statement_from_dict(body["statement"])
                metric = statement.metrics[0]
                if metric == refuse:
                    self._answer(403, {"message": "the disclosure policy refuses this figure"})
                elif replay:
                    path = chain.folder / f"{month.cutoff}-{metric}.json"
                    if path.exists():
                        self._answer(200, bundle.load_bundle(path))
                    else:
                        self._answer(422, {"message": "cannot prove this claim on this snapshot"})
                else:
                    self._answer(200, month.answer.prove(statement, bytes.fromhex(body["nonce"])))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fetch_report(chain: DemoChain, tmp_path: Path, url: str, api_key: str) -> tuple[int, Path, Path]:
    out, saved = tmp_path / "report.html", tmp_path / "fetched"
    code = audit_main(
        ["report", "--url", url, "--api-key", api_key, "--save-to", str(saved),
         "--key", str(chain.gateway_pub), "--require-witness", str(chain.witness_pub), "--out", str(out)]
    )  # fmt: skip
    return code, out, saved


def test_fetched_bundles_are_asked_with_fresh_nonces_verified_and_refusals_listed(
    chain: DemoChain, tmp_path: Path
) -> None:
    gateway = StandInGateway(chain)
    try:
        code, out, saved = _fetch_report(chain, tmp_path, gateway.url, gateway.API_KEY)
    finally:
        gateway.close()
    assert code == 0
    page = read_page(out)
    latest = chain.months[-1].cutoff
    metrics = {f["data-metric"] for f in page.figures if f["data-basis"] == "disclosure"}
    assert {"pool_balance", "fees", "count_M0", "collections"} <= metrics  # asked beyond the folder's set
    assert "interest" not in metrics
    assert f'data-skipped-file="{latest}-interest.json"' in out.read_text(encoding="utf-8")
    for name in (f"{latest}-pool_balance.json", f"{latest}-header.json"):
        assert (saved / name).is_file()
    nonces = {
        bundle.load_bundle(p)["nonce"] for p in saved.glob(f"{latest}-*.json") if "header" not in p.name
    }
    assert len(nonces) == len(metrics)  # one fresh nonce per question


def test_a_gateway_replaying_answers_to_other_nonces_is_caught(chain: DemoChain, tmp_path: Path) -> None:
    gateway = StandInGateway(chain, replay=True)
    try:
        code, out, _ = _fetch_report(chain, tmp_path, gateway.url, gateway.API_KEY)
    finally:
        gateway.close()
    assert code == 1
    page = read_page(out)
    assert {u["data-check"] for u in page.unverified} == {"claim.expected.nonce"}
    assert [f for f in page.figures if f["data-basis"] == "disclosure"] == []


def test_a_wrong_api_key_and_an_unreachable_gateway_have_their_exit_codes(
    chain: DemoChain, tmp_path: Path
) -> None:
    gateway = StandInGateway(chain)
    try:
        assert _fetch_report(chain, tmp_path / "a", gateway.url, "ppk_wrong")[0] == 4
    finally:
        gateway.close()
    assert _fetch_report(chain, tmp_path / "b", gateway.url, gateway.API_KEY)[0] == 5  # closed now
