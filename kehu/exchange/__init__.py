"""Spreadsheets in and out (表格导入导出).

- ``readers`` / ``headers`` / ``values``: read xlsx (python-calamine) and CSV (UTF-8, UTF-8-BOM, GBK,
  GB18030), find the header below title rows, recognise columns from Chinese/English synonyms and sheet
  kinds, read values as people type them. What kehu itself writes (field labels, sheet names, choice labels)
  is recognised in every language kehu speaks, from the same tables the exporter writes with.
- ``importer``: every customer row through CustomerForm, purchases with OrderForm's rules and bulk
  writes, duplicates by code/mobile/e-mail/WeChat, dry run, ImportBatch/ImportChange for revert.
- ``reports``: the error report (the input rows with an 错误说明 column).
- ``exporters``: customers (CustomerFilter rows, masked per role), orders, a report with live formulas
  and charts, blank templates with data validation; in the user's language (Chinese by default, English in
  English mode or with ``--lang en``).
- ``analyze``: ``kehu analyze`` — a workbook through the same import into a scratch store, then the
  segmentation engine.

Commands: ``kehu import FILE [--dry-run] [--on-duplicate update|skip|create] [--on-conflict error|skip|keep-code]
[--reject-unknown-customers] [--report errors.xlsx] [--user NAME] [--template NAME]``,
``kehu import --revert BATCH_ID``, ``kehu export customers|orders|report -o FILE [--user NAME]
[--filter "province=广东省"] [--lang en]``, ``kehu export template KIND -o FILE [--lang en]``,
``kehu analyze INPUT -o OUTPUT.xlsx [--as-of DATE]``. Benchmark: ``bench/import.py``.
"""
