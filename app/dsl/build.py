"""Turn rule files into a RuleSet: read, parse, check, compile; cached by content hash."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from decimal import Decimal
from os import PathLike
from pathlib import Path
from types import MappingProxyType

from app.dsl import ast
from app.dsl.checker import (
    DEDUPE_UNITS,
    DEFAULT_TIMEOUT_MS,
    ENRICH_MODES,
    OUTBOUND_USAGE,
    TIMEOUT_UNITS,
    CheckedRules,
    Checker,
)
from app.dsl.compiler import compile_node, compile_value
from app.dsl.diagnostics import ERROR, Diagnostic, RulesError
from app.dsl.parser import parse_file
from app.dsl.ruleset import (
    DAY_NAMES,
    Assignment,
    Audit,
    Bid,
    Budget,
    Cap,
    Category,
    CategoryIndex,
    Condition,
    DedupeCheck,
    Field,
    LeadType,
    Plan,
    RuleSet,
    Schedule,
    Stage,
)

RULE_FILE_SUFFIX = ".rules"
_CACHE_SIZE = 32
_cache: OrderedDict[str, RuleSet] = OrderedDict()
_cache_lock = threading.Lock()

Sources = str | PathLike[str] | Mapping[str, str] | Iterable[str | PathLike[str]]


def read_sources(sources: Sources) -> tuple[dict[str, str], list[Diagnostic]]:
    """Return {file name: text} for paths, directories or a mapping, with read errors."""
    if isinstance(sources, Mapping):
        return dict(sources), []
    if isinstance(sources, str | PathLike):
        sources = [sources]
    texts: dict[str, str] = {}
    problems: list[Diagnostic] = []
    for item in sources:
        path = Path(item)
        files = sorted(path.rglob("*" + RULE_FILE_SUFFIX)) if path.is_dir() else [path]
        if path.is_dir() and not files:
            problems.append(
                Diagnostic(
                    str(path),
                    1,
                    1,
                    ERROR,
                    "no-rule-files",
                    f"no {RULE_FILE_SUFFIX} files in directory",
                )
            )
        for file in files:
            try:
                texts[str(file)] = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
                problems.append(
                    Diagnostic(
                        str(file),
                        1,
                        1,
                        ERROR,
                        "unreadable-file",
                        f"cannot read rule file: {reason}",
                    )
                )
    return texts, problems


def content_hash(texts: Mapping[str, str]) -> str:
    """Return the SHA-256 of a rule set's files (names and texts)."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        for part in (name, texts[name]):
            data = part.encode("utf-8", "surrogatepass")
            digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def check_texts(texts: Mapping[str, str]) -> tuple[CheckedRules, list[Diagnostic]]:
    """Parse and check rule files; return the checked declarations and every diagnostic."""
    declarations: list[ast.Declaration] = []
    diagnostics: list[Diagnostic] = []
    broken: set[str] = set()
    for name in sorted(texts):
        parsed = parse_file(texts[name], name)
        declarations.extend(parsed.declarations)
        diagnostics.extend(parsed.diagnostics)
        broken |= parsed.broken_ids
    checked, problems = Checker(declarations, broken).check()
    return checked, diagnostics + problems


def compile_rules(sources: Sources, *, use_cache: bool = True) -> RuleSet:
    """Compile a rule set from paths, a directory or {file name: text}.

    Raises RulesError carrying every diagnostic when there is any error. The result is
    immutable and cached by content hash, so compiling the same files again is free.
    """
    texts, problems = read_sources(sources)
    if not texts and not problems:
        problems.append(Diagnostic("<rules>", 1, 1, ERROR, "no-rule-files", "no rule files given"))
    if problems:
        raise RulesError(problems, texts)
    key = content_hash(texts)
    if use_cache:
        with _cache_lock:
            if key in _cache:
                _cache.move_to_end(key)
                return _cache[key]
    checked, diagnostics = check_texts(texts)
    if any(d.is_error for d in diagnostics):
        raise RulesError(diagnostics, texts)
    ruleset = assemble(checked, key, texts, tuple(sorted(diagnostics)))
    if use_cache:
        with _cache_lock:
            _cache[key] = ruleset
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return ruleset


def _condition(node: ast.Node, source: str | None) -> Condition:
    predicate, _ = compile_node(node)
    return Condition(source or ast.unparse(node), node, predicate)


def _optional_condition(node: ast.Node | None, source: str | None) -> Condition | None:
    return None if node is None else _condition(node, source)


def _schedule(decl: ast.ScheduleDecl) -> Schedule:
    days: set[int] = set()
    for spec in decl.days:
        first = DAY_NAMES.index(spec.first.value.lower())
        last = DAY_NAMES.index(spec.last.value.lower()) if spec.last else first
        span = (last - first) % 7  # mon..fri; fri..mon wraps over the weekend
        days.update((first + offset) % 7 for offset in range(span + 1))
    start_h, start_m = (int(part) for part in decl.start.value.split(":"))
    end_h, end_m = (int(part) for part in decl.end.value.split(":"))
    end_of_day = end_h == 24
    return Schedule(
        frozenset(days),
        time(start_h, start_m),
        time(0 if end_of_day else end_h, end_m),
        decl.timezone.value,
        end_of_day,
    )


def assemble(
    checked: CheckedRules,
    key: str,
    texts: Mapping[str, str],
    warnings: tuple[Diagnostic, ...] = (),
) -> RuleSet:
    """Build the immutable RuleSet from checked declarations."""
    categories = {
        name: Category(name, decl.label, tuple(checked.fields[name].values()))
        for name, decl in checked.categories.items()
    }
    lead_types = tuple(
        LeadType(
            decl.id.value,
            decl.label,
            decl.category.value,
            decl.priority,
            decl.fallback,
            None if decl.fallback else _optional_condition(decl.condition, decl.source),
            order,
        )
        for order, decl in enumerate(checked.lead_types)
    )
    audits = tuple(
        Audit(
            decl.label,
            decl.category.value if decl.category else None,
            _condition(decl.condition, decl.source),
        )
        for decl in checked.audits
    )
    dedupes = tuple(
        DedupeCheck(
            decl.label,
            decl.category.value if decl.category else None,
            tuple(name.value for name in decl.fields),
            timedelta(seconds=decl.amount.value * DEDUPE_UNITS[decl.unit.value]),
        )
        for decl in checked.dedupes
    )
    bids = {
        name: Bid(
            id=name,
            customer=decl.customer.value,
            lead_types=tuple(lt.value for lt in decl.lead_types),
            price=decl.price.value,
            condition=_optional_condition(decl.condition, decl.source),
            cap=(
                # int(): the checker refused a limit that is not a whole number
                Cap(int(decl.caps[0].limit.value), decl.caps[0].period.value) if decl.caps else None
            ),
            budget=(
                Budget(decl.budgets[0].amount.value, decl.budgets[0].period.value)
                if decl.budgets
                else None
            ),
            schedule=_schedule(decl.schedules[0]) if decl.schedules else None,
        )
        for name, decl in checked.bids.items()
    }
    bids_by_lead_type: dict[str, list[Bid]] = defaultdict(list)
    for bid in bids.values():
        for type_id in bid.lead_types:
            bids_by_lead_type[type_id].append(bid)
    plans: dict[str, Plan] = {}
    for name, decl in checked.plans.items():
        stages: list[Stage] = []
        for stage in decl.stages:
            names = [arg.value for arg in stage.args if isinstance(arg, ast.Name)]
            lists = [arg for arg in stage.args if isinstance(arg, tuple)]
            only = tuple(item.value for item in lists[0]) if lists else None
            if stage.kind.value == "marketplace":
                stages.append(_marketplace_stage(stage))
                continue
            if stage.kind.value == "alter":
                fields = categories[name].field_map
                sets = tuple(_assignment(line, fields) for line in stage.block or ())
                stages.append(Stage("alter", sets=sets))
                continue
            if stage.kind.value in OUTBOUND_USAGE:
                stages.append(_outbound_stage(stage))
                continue
            stages.append(Stage(stage.kind.value, names[0] if names else None, only))
        plans[name] = Plan(name, tuple(stages))
    index: dict[str, CategoryIndex] = {}
    for name in categories:
        ordered = sorted(
            (lt for lt in lead_types if lt.category == name and not lt.fallback),
            key=lambda lt: (-lt.priority, lt.order),
        )
        ordered += [lt for lt in lead_types if lt.category == name and lt.fallback]
        index[name] = CategoryIndex(
            lead_types=tuple(ordered),
            audits=tuple(a for a in audits if a.category in (None, name)),
            dedupes=tuple(d for d in dedupes if d.category in (None, name)),
            field_types=MappingProxyType({f.name: f.type for f in categories[name].fields}),
            bids=tuple(b for b in bids.values() if checked.bid_categories.get(b.id) == name),
        )
    return RuleSet(
        content_hash=key,
        categories=MappingProxyType(categories),
        lead_types=lead_types,
        all_audits=audits,
        dedupes=dedupes,
        bids=MappingProxyType(bids),
        plans=MappingProxyType(plans),
        warnings=warnings,
        sources=MappingProxyType(dict(texts)),
        bids_by_lead_type=MappingProxyType({k: tuple(v) for k, v in bids_by_lead_type.items()}),
        _by_category=MappingProxyType(index),
    )


def read_rule_files(path: str | PathLike[str]) -> dict[str, str]:
    """Return {name relative to PATH: text} of a rule file or a directory's rule files.

    Raises RulesError when the path cannot be read (missing, not a rule file, not text).
    """
    texts, problems = read_sources(path)
    if problems:
        raise RulesError(problems, texts)
    root = Path(path)
    if root.is_dir():
        return {Path(name).relative_to(root).as_posix(): text for name, text in texts.items()}
    return {Path(name).name: text for name, text in texts.items()}


def _marketplace_stage(stage: ast.StageDecl) -> Stage:
    """Return a checked `stage marketplace [price NUMBER] [teaser [field, ...]]`."""
    price: Decimal | None = None
    teaser: tuple[str, ...] = ()
    for keyword, value in zip(stage.args, stage.args[1:], strict=False):
        if not isinstance(keyword, ast.Name):
            continue
        if keyword.value == "price" and isinstance(value, ast.Literal):
            price = Decimal(str(value.value)).quantize(Decimal("0.01"))  # checked: whole cents
        elif keyword.value == "teaser" and isinstance(value, tuple):
            teaser = tuple(dict.fromkeys(name.value for name in value))
    return Stage("marketplace", price=price, teaser=teaser)


def _outbound_stage(stage: ast.StageDecl) -> Stage:
    """Return a checked `stage ping_post`, `stage post` or `stage enrich`."""
    kind, args = stage.kind.value, stage.args
    if kind == "enrich":
        names = [arg.value for arg in args if isinstance(arg, ast.Name)]
        mode = names[1] if len(names) > 1 else ENRICH_MODES[0]
        return Stage(kind, partners=(names[0],), mode=mode)
    partners = next(tuple(name.value for name in arg) for arg in args if isinstance(arg, tuple))
    timeout_ms = None
    if kind == "ping_post":
        timeout_ms = DEFAULT_TIMEOUT_MS
        for keyword, value, unit in zip(args, args[1:], args[2:], strict=False):
            if isinstance(keyword, ast.Name) and keyword.value == "timeout":
                assert isinstance(value, ast.Literal) and isinstance(unit, ast.Name)  # checked
                timeout_ms = int(Decimal(str(value.value)) * TIMEOUT_UNITS[unit.value])
    return Stage(kind, partners=partners, timeout_ms=timeout_ms)


def _assignment(line: ast.SetDecl, fields: Mapping[str, Field]) -> Assignment:
    """Return a checked `set` line, its expression and condition compiled."""
    target = fields[line.target.value]
    value, _ = compile_value(line.value)
    return Assignment(
        field=target.name,
        type=target.type,
        choices=target.choices,
        source=line.source,
        node=line.value,
        value=value,
        condition=_optional_condition(line.condition, line.condition_source),
        line=line.pos.line,
    )
