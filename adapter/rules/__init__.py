"""The rules of the discharge process (docs/domain.md, rules 1-15): pure functions, the clock passed in.

holidays          Swedish weekdays as lag 1930:173 counts them
deadlines         when a Kvittens is due (rules 1 and 2)
acknowledgements  the Tasks of the acknowledgements owed, and when they are overdue
payment           the municipality's payment responsibility per episode (rules 5-7)
halland           Halland's transitional model for 2018 (rule 14)
findings          what the rules find wrong or late in an episode's messages
consent           the patient's consent to information transfer (rule 11)
"""

from . import acknowledgements, consent, deadlines, findings, halland, holidays, payment

__all__ = ["acknowledgements", "consent", "deadlines", "findings", "halland", "holidays", "payment"]
