"""The `sluice` command: one click group; each feature registers its commands here."""

from __future__ import annotations

import click

from app.commands.analysis import dry_run_command, explain_lead_command
from app.commands.customers import customer_group
from app.commands.db import db_group
from app.commands.deliveries import delivery_group
from app.commands.examples import examples_group
from app.commands.imports import auction_group, import_command, imports_command
from app.commands.jobs import job_group
from app.commands.leads import lead_group, post_group
from app.commands.marketplace import marketplace_group
from app.commands.partners import partner_group
from app.commands.pings import ping_group
from app.commands.rules import rules_group
from app.commands.rules_check import check_command, explain_command
from app.commands.serve import serve_command
from app.commands.sources import source_group
from app.commands.tenants import tenant_group, user_group
from app.commands.webhooks import webhook_group
from app.commands.worker import worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Sluice: lead-routing rules engine."""


main.add_command(check_command)
main.add_command(explain_command)
main.add_command(db_group)
main.add_command(tenant_group)
main.add_command(user_group)
main.add_command(rules_group)
main.add_command(source_group)
main.add_command(customer_group)
main.add_command(webhook_group)
lead_group.add_command(import_command)
lead_group.add_command(imports_command)
main.add_command(partner_group)
main.add_command(lead_group)
main.add_command(lead_group, name="leads")
main.add_command(marketplace_group)
main.add_command(dry_run_command)
main.add_command(explain_lead_command)
main.add_command(post_group)
main.add_command(ping_group)
main.add_command(delivery_group)
main.add_command(delivery_group, name="deliveries")
main.add_command(job_group)
main.add_command(job_group, name="jobs")
main.add_command(serve_command)
main.add_command(worker_command)
main.add_command(examples_group)
main.add_command(auction_group)
main.add_command(auction_group, name="auctions")
