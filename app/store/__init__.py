"""Peewee models, migrations and every SQL statement: the only layer that talks to the database."""
