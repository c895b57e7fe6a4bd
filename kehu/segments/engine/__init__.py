"""The analytics engine (分析引擎): pure functions and small classes over tables of numbers.

Nothing in this package knows about requests, templates or ORM objects; views, commands and the API
call into it with plain arrays or data frames and get plain results back.
"""
