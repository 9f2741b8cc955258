"""The Quality Development Tool: frameworks as data, answers, scoring, priorities, cohort.

Nothing here imports Flask: services take a SQLAlchemy session, ``flush`` and leave the
commit to the request (or CLI unit of work) that called them.
"""
