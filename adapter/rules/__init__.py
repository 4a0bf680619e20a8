"""The rules of the discharge process (DOMAIN.md, rules 1-14): pure functions, the clock passed in.

holidays   Swedish weekdays as lag 1930:173 counts them
deadlines  when a Kvittens is due (rules 1 and 2)
payment    the municipality's payment responsibility per episode (rules 5-7)
halland    Halland's transitional model for 2018 (rule 14)
"""
