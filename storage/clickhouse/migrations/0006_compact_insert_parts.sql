-- Parts written by the processor's inserts stay in the Compact format (one data file) up to
-- 128 MiB uncompressed instead of ClickHouse's default 10 MiB (`min_bytes_for_wide_part`,
-- ClickHouse docs "MergeTree settings" and "Data storage: parts"). A batch of 20,000 realistic
-- observations is ≈ 37 MiB: as a Wide part (one file and buffer pair per column and subcolumn)
-- its insert allocated ≈ 300 MiB of I/O buffers and took 1.6x the time of the same insert as a
-- Compact part (docs/benchmarks.md "Processor alone"). Merged parts above the threshold are Wide
-- as before. Only the part format changes: columns, keys and every query stay the same, and
-- existing parts keep their format until they are merged.
ALTER TABLE {database}.observations MODIFY SETTING min_bytes_for_wide_part = 134217728;
ALTER TABLE {database}.traces MODIFY SETTING min_bytes_for_wide_part = 134217728;
