"""Reports (ARCHITECTURE.md §8): ``records`` writes and reads ``results.jsonl`` (the format is
documented there), ``html`` renders a run's self-contained page, ``junit`` writes JUnit XML,
``merge`` builds the rule x target matrix, ``cli`` is ``sockspec report``."""
