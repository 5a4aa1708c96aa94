"""Domain values shared by every layer: lead statuses, money, time, refusals.

Nothing here imports Flask, peewee or another part of the app.
"""
