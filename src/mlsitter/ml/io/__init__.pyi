from ._frames import (
    as_polars as as_polars,
    as_pandas as as_pandas,
    sample_rows as sample_rows,
)
from ._ingest import (
    FORMATS as FORMATS,
    SourceSpec as SourceSpec,
    SourceInfo as SourceInfo,
    parse_sources as parse_sources,
    detect_format as detect_format,
    read_source as read_source,
    detect_encoding as detect_encoding,
    detect_delimiter as detect_delimiter,
    require_columns as require_columns,
    load_table as load_table,
)
from ._table_reader import (
    MISSING_TOKENS as MISSING_TOKENS,
    read_table as read_table,
    parse_date_columns as parse_date_columns,
    require_columns as require_columns,
)
from ._timeseries import (
    TimeGaps as TimeGaps,
    parse_timestamp_spec as parse_timestamp_spec,
    timestamp_series as timestamp_series,
    to_datetime as to_datetime,
    time_gaps as time_gaps,
)
