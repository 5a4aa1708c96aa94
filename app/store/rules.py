"""Rule set versions: push (check, store, activate), list, rollback, and the active one."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from app.domain.clock import utcnow
from app.domain.errors import InvalidError, NotFoundError
from app.domain.money import CENT
from app.store.customers import customer_slugs
from app.store.db import columns, database, is_postgresql, select_rows
from app.store.models import VERSION_FIELDS, RuleSetVersion, Source, Tenant
from app.store.partners import partners_named, unknown_partners
from app.store.sources import ANY_CATEGORY
from app.store.storable import unstorable

if TYPE_CHECKING:  # app.dsl is imported when rules are compiled, not with the store
    from app.domain.partners import Partner
    from app.dsl import RuleSet

_CACHE_SIZE = 32
_cache: OrderedDict[str, Any] = OrderedDict()
_cache_lock = threading.Lock()


class RulesRefused(InvalidError):
    """The rule set has errors; `details` lists the diagnostics."""


def diagnostic_json(diagnostic) -> dict[str, Any]:
    """Return a diagnostic as a JSON-able dict."""
    return {
        "path": diagnostic.path,
        "line": diagnostic.line,
        "column": diagnostic.column,
        "severity": diagnostic.severity,
        "code": diagnostic.code,
        "message": diagnostic.message,
        "hint": diagnostic.hint,
    }


def _problem(code: str, message: str) -> dict[str, Any]:
    return {
        "path": None,
        "line": None,
        "column": None,
        "severity": "error",
        "code": code,
        "message": message,
        "hint": None,
    }


def check_rules(tenant: Tenant, files: Any) -> RuleSet:
    """Compile rules for a tenant; return the RuleSet or raise RulesRefused with every problem.

    Beyond the language's own checks, every customer a bid names must exist in the tenant
    and every active source's category must be defined, or leads could not be routed.
    """
    from app.dsl import RulesError, compile_rules

    try:
        ruleset = compile_rules(files)
    except RulesError as error:
        raise RulesRefused(
            "the rule set has errors:\n" + error.report(),
            [diagnostic_json(d) for d in error.diagnostics],
        ) from None
    problems = []
    problem = unstorable(dict(ruleset.sources))  # e.g. a NUL in a comment
    if problem is not None:
        message = f"the rule files hold {problem}, which cannot be stored"
        problems.append(_problem("unstorable-text", message))
    for bid in ruleset.bids.values():
        amounts = [("price", bid.price)] + ([("budget", bid.budget.amount)] if bid.budget else [])
        for what, amount in amounts:
            if amount != amount.quantize(CENT):
                message = f"bid {bid.id!r} has a {what} of {amount}: wallets hold whole cents"
                problems.append(_problem("fractional-cents", message))
    known = customer_slugs(tenant)
    for slug in sorted(ruleset.customers() - known):
        problems.append(_problem("unknown-customer", f"bids name unknown customer {slug!r}"))
    problems += _unknown_partners(tenant, ruleset)
    categories = {
        source.category
        for source in Source.select(Source.category).where(
            (Source.tenant == tenant)
            & (Source.active == True)  # noqa: E712
            & (Source.category != ANY_CATEGORY)  # Routio-style: names it per request
        )
    }
    for category in sorted(categories - set(ruleset.categories)):
        problems.append(
            _problem(
                "missing-category",
                f"active sources post to category {category!r}, which the rule set lacks",
            )
        )
    if problems:
        lines = "\n".join(f"error[{p['code']}]: {p['message']}" for p in problems)
        raise RulesRefused("the rule set is refused:\n" + lines, problems)
    return ruleset


def _unknown_partners(tenant: Tenant, ruleset: RuleSet) -> list[dict[str, str]]:
    """Return a problem for each partner a ping_post or post stage names, and each provider
    an enrich stage names, that the tenant has not configured (or removed)."""
    named: dict[str, set[str]] = {"partner": set(), "enrichment": set()}
    for plan in ruleset.plans.values():
        for stage in plan.stages:
            if stage.calls_out:
                named["enrichment" if stage.kind == "enrich" else "partner"].update(stage.partners)
    problems = []
    known = partners_named(tenant.id, named["partner"], "partner")
    for name in sorted(named["partner"] - known.keys()):
        message = f"the plan's stages name unknown partner {name!r} (sluice partner add)"
        problems.append(_problem("unknown-partner", message))
    for category, plan in sorted(ruleset.plans.items()):
        for stage in plan.stages:
            for name in stage.partners if stage.kind in ("ping_post", "post") else ():
                partner = known.get(name)
                lacks = _lacks(partner, stage.kind) if partner is not None else None
                if lacks:
                    message = (
                        f"partner {name!r} of plan {category}'s {stage.kind} stage has no"
                        f" {lacks} (sluice partner update)"
                    )
                    problems.append(_problem("partner-cannot-take-stage", message))
    for name in unknown_partners(tenant, named["enrichment"], "enrichment"):
        message = (
            f"an enrich stage names unknown provider {name!r}"
            " (sluice partner add --kind enrichment)"
        )
        problems.append(_problem("unknown-provider", message))
    return problems


def _lacks(partner: Partner, kind: str) -> str | None:
    """Return what a partner lacks to take part in a stage of this kind, or None: a
    ping_post stage pings it for a price, then posts to it; a post stage posts to it."""
    if partner.post_url is None:
        return "post URL"
    if kind == "ping_post" and partner.ping_url is None:
        return "ping URL"
    if kind == "ping_post" and "price" not in partner.rules:
        return "price rule (price_path or price_pattern): its offers could not be compared"
    return None


def push_rules(tenant: Tenant, files: Any, by: str):
    """Check rules, store them as a new version and activate it; return (version, ruleset).

    Pushing the rules that are already active changes nothing and returns that version.
    """
    ruleset = check_rules(tenant, files)
    with database.atomic():
        _lock_tenant_versions(tenant)
        current = active_version(tenant)
        if current is not None and current.content_hash == ruleset.content_hash:
            return current, ruleset
        number = (
            RuleSetVersion.select(RuleSetVersion.number)
            .where(RuleSetVersion.tenant == tenant)
            .order_by(RuleSetVersion.number.desc())
            .scalar()
            or 0
        ) + 1
        version = RuleSetVersion.create(
            tenant=tenant,
            number=number,
            files=dict(ruleset.sources),
            content_hash=ruleset.content_hash,
            created_by=by,
        )
        _activate(tenant, version, by)
    return RuleSetVersion.get_by_id(version.id), ruleset


def rollback_rules(tenant: Tenant, by: str, to: int | None = None) -> RuleSetVersion:
    """Activate an earlier version (default: the newest one below the active one)."""
    with database.atomic():
        _lock_tenant_versions(tenant)
        current = active_version(tenant)
        query = RuleSetVersion.select().where(RuleSetVersion.tenant == tenant)
        if to is not None:
            target = query.where(RuleSetVersion.number == to).first()
            if target is None:
                raise NotFoundError(f"no rule set version {to}")
        else:
            if current is None:
                raise InvalidError("no active rule set to roll back from")
            target = (
                query.where(RuleSetVersion.number < current.number)
                .order_by(RuleSetVersion.number.desc())
                .first()
            )
            if target is None:
                raise InvalidError(f"version {current.number} is the first one: nothing before it")
        check_rules(tenant, target.files)
        _activate(tenant, target, by)
    return RuleSetVersion.get_by_id(target.id)


def _lock_tenant_versions(tenant: Tenant) -> None:
    # Two pushes at once must not both pick the same next number or both activate.
    if is_postgresql():
        Tenant.select().where(Tenant.id == tenant.id).for_update().execute()


def _activate(tenant: Tenant, version: RuleSetVersion, by: str) -> None:
    RuleSetVersion.update(active=False).where(
        (RuleSetVersion.tenant == tenant) & (RuleSetVersion.active == True)  # noqa: E712
    ).execute()
    RuleSetVersion.update(active=True, activated_at=utcnow(), activated_by=by).where(
        RuleSetVersion.id == version.id
    ).execute()


def list_versions(tenant: Tenant) -> list[RuleSetVersion]:
    """Return the tenant's rule set versions, newest first."""
    return list(
        RuleSetVersion.select()
        .where(RuleSetVersion.tenant == tenant)
        .order_by(RuleSetVersion.number.desc())
    )


def active_version(tenant: Tenant | int) -> RuleSetVersion | None:
    """Return the tenant's active rule set version, or None."""
    return (
        RuleSetVersion.select()
        .where((RuleSetVersion.tenant == tenant) & (RuleSetVersion.active == True))  # noqa: E712
        .first()
    )


def compiled(version: RuleSetVersion):
    """Return the RuleSet of a stored version (compiled once per process)."""
    key = version.content_hash
    with _cache_lock:
        ruleset = _cache.get(key)
        if ruleset is not None:
            _cache.move_to_end(key)
            return ruleset
    from app.dsl import compile_rules

    files = version.files
    if files is None:  # a version read without its files (active_ruleset)
        files = RuleSetVersion.select(RuleSetVersion.files).where(RuleSetVersion.id == version.id)
        files = files.scalar()
    ruleset = compile_rules(dict(files))
    with _cache_lock:
        _cache[key] = ruleset
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return ruleset


def warm_up(seconds: float = 10.0) -> int:
    """Compile the active rule sets of the tenants with the most recently activated ones
    first, as many as the cache keeps, for at most about `seconds`; return how many.

    A new server process (gunicorn starts one at boot and after `max_requests`) would
    otherwise compile a tenant's rules within its first lead's request: ~0.6 s, more with
    every worker starting at once. Failures are left to the requests, which report them:
    a version that no longer compiles is passed over, a database not answering ends the
    warm-up."""
    log = logging.getLogger("sluice.rules")
    deadline = time.monotonic() + seconds
    done = 0
    try:
        versions = list(
            RuleSetVersion.select()
            .where(RuleSetVersion.active == True)  # noqa: E712
            .order_by(RuleSetVersion.activated_at.desc(nulls="LAST"))
            .limit(_CACHE_SIZE)
        )
        for version in versions:
            if time.monotonic() > deadline:
                break
            try:
                compiled(version)
                done += 1
            except Exception as error:  # noqa: BLE001 (its requests will say what is wrong)
                log.warning(
                    "rules warm-up passed over a version",
                    extra={"version": version.id, "error": str(error)},
                )
    except Exception as error:  # noqa: BLE001 (never keeps the worker from serving)
        log.warning("rules warm-up stopped", extra={"error": str(error), "compiled": done})
    finally:
        if not database.is_closed():
            database.close()
    return done


def active_ruleset(tenant: Tenant | int):
    """Return (version, RuleSet) of the tenant's active rules, or (None, None).

    The version's files (the rules' text) are left out of the query, as each process
    compiles a version once.
    """
    tenant_id = tenant if isinstance(tenant, int) else tenant.id
    rows = select_rows(
        [(RuleSetVersion, VERSION_FIELDS)],
        f"SELECT {columns('v', RuleSetVersion, VERSION_FIELDS)} FROM rule_set_version v"
        " WHERE v.tenant_id = %s AND v.active",
        [tenant_id],
    )
    return ruleset_of(rows[0][0] if rows else None)


def ruleset_of(version: RuleSetVersion | None):
    """Return (version, RuleSet) of an active version read without its files, or (None, None).

    The intake reads the active version with the source it authenticates (one query).
    """
    if version is None or version.id is None:
        return None, None
    version.files = None  # not read: compiled() fetches them once per process if needed
    return version, compiled(version)
