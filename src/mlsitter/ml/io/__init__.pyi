from ._frames import (
    as_polars as as_polars,
    as_pandas as as_pandas,
    sample_rows as sample_rows,
)
from ._dates import (
    DATE_FORMATS as DATE_FORMATS,
    check_date_format as check_date_format,
    infer_date_format as infer_date_format,
    parse_dates as parse_dates,
    parse_date_text as parse_date_text,
)
from ._ingest import (
    FORMATS as FORMATS,
    DEFAULT_NA_VALUES as DEFAULT_NA_VALUES,
    na_tokens as na_tokens,
    SourceSpec as SourceSpec,
    SourceInfo as SourceInfo,
    parse_sources as parse_sources,
    read_source_polars as read_source_polars,
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
    REGULAR_STEP_SHARE as REGULAR_STEP_SHARE,
    REGULAR_MULTIPLE_SHARE as REGULAR_MULTIPLE_SHARE,
    parse_timestamp_spec as parse_timestamp_spec,
    timestamp_series as timestamp_series,
    to_datetime as to_datetime,
    time_gaps as time_gaps,
)
