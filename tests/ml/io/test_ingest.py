"""Ingest: every supported format reads correctly, detection works, and bad files give clear DataErrors."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

import realdata
from mlsitter.errors import DataError, SpecError
from mlsitter.ml.io._ingest import (
    detect_delimiter,
    detect_encoding,
    load_table,
    parse_sources,
    read_source,
    require_columns,
)

SMALL = pd.DataFrame({"id": [1, 2, 3, 4], "city": ["Zürich", "Genève", "Bern", "Basel"], "amount": [1.5, 2.0, None, 4.25]})


def read(location, **options):
    return read_source(parse_sources([location], **options)[0])


def test_adult_known_facts_through_ingest():
    frame, info = read(str(realdata.path("adult/adult-train.csv")), columns=realdata.ADULT_COLUMNS, na_values="?")
    assert len(frame) == 32_561
    assert info.header is False and info.delimiter == ","
    missing = frame.isna().sum()
    assert set(missing[missing > 0].index) == {"workclass", "occupation", "native-country"}
    assert frame["workclass"].iloc[0] == "State-gov"  # leading space stripped


def test_semicolon_delimiter_and_header_detected_on_bank():
    frame, info = read(str(realdata.path("bank_marketing/bank-additional.csv")))
    assert info.delimiter == ";" and info.header is True
    assert frame.shape == (4119, 21) and "duration" in frame.columns


def test_a_gzipped_csv_is_sniffed_after_decompressing_and_named_without_its_suffixes():
    frame, info = read(str(realdata.stored("bank_marketing/bank-additional.csv")))
    assert info.delimiter == ";" and info.header is True and info.name == "bank-additional"
    assert frame.shape == (4119, 21)


def test_adult_without_names_gets_generic_columns():
    frame, info = read(str(realdata.path("adult/adult-test.csv")))
    assert list(frame.columns[:2]) == ["col_1", "col_2"] and "no header" in info.notes[0]


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiter_detection(sep):
    text = "\n".join(sep.join(row) for row in [["a", "b", "c"], ["1", "x", "2.5"], ["3", "y", "4.5"]])
    assert detect_delimiter(text) == sep


def test_encoding_detection_latin1(tmp_path):
    path = tmp_path / "latin.csv"
    SMALL.to_csv(path, index=False, encoding="latin-1")
    frame, info = read(str(path))
    assert info.encoding.lower().replace("_", "-") not in ("utf-8", "utf-8-sig")
    assert list(frame["city"]) == ["Zürich", "Genève", "Bern", "Basel"]
    assert detect_encoding("a,b\n1,2\n".encode()) == "utf-8"


def test_tsv_parquet_json_jsonl_excel(tmp_path):
    SMALL.to_csv(tmp_path / "t.tsv", sep="\t", index=False)
    SMALL.to_parquet(tmp_path / "t.parquet", index=False)
    SMALL.to_json(tmp_path / "t.json", orient="records")
    SMALL.to_json(tmp_path / "t.jsonl", orient="records", lines=True)
    SMALL.to_excel(tmp_path / "t.xlsx", index=False)
    for name, fmt in [("t.tsv", "tsv"), ("t.parquet", "parquet"), ("t.json", "json"), ("t.jsonl", "jsonl"), ("t.xlsx", "excel")]:
        frame, info = read(str(tmp_path / name))
        assert info.format == fmt, name
        assert frame.shape == (4, 3), name
        assert list(frame["city"]) == list(SMALL["city"]), name
        assert frame["amount"].isna().sum() == 1, name


def test_sqlite_duckdb_and_sqlalchemy_url(tmp_path):
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        SMALL.to_sql("orders", con, index=False)
        SMALL.assign(id=SMALL.id + 10).to_sql("archive", con, index=False)
    frame, _ = read(str(db), table="orders")
    assert frame.shape == (4, 3)
    frame, info = read(f"sqlite:///{db}", query="select * from archive where amount > 1.9")
    assert list(frame["id"]) == [12, 14] and info.format == "sqlite"
    with pytest.raises(DataError, match="2 tables.*give query=... or table="):
        read(str(db))
    with pytest.raises(DataError, match="table 'nope' is not in"):
        read(str(db), table="nope")

    import duckdb

    ddb = tmp_path / "shop.duckdb"
    con = duckdb.connect(str(ddb))
    con.execute("create table orders as select * from SMALL")
    con.close()
    frame, info = read(str(ddb))
    assert info.format == "duckdb" and frame.shape == (4, 3)

    # a generic SQLAlchemy URL goes through SQLAlchemy (the sqlite+pysqlite dialect here)
    frame, info = read(f"sqlite+pysqlite:///{db}", query="select count(*) as n from orders")
    assert info.format == "sql" and int(frame["n"].iloc[0]) == 4


def test_named_sources_and_duplicates():
    specs = parse_sources(["train=a.csv", "b.parquet", "b.parquet"])
    assert [s.label for s in specs] == ["train", "b_2", "b_3"]
    with pytest.raises(SpecError, match="at least one source"):
        parse_sources("")
    with pytest.raises(SpecError, match="format 'xml' is not one of"):
        parse_sources(["a.xml"], format="xml")


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read(str(tmp_path / "missing.csv"))
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"is empty \(0 bytes\)"):
        read(str(empty))
    header_only = tmp_path / "header.csv"
    header_only.write_text("a,b,c\n")
    with pytest.raises(DataError, match="no data rows"):
        read(str(header_only))
    binary = tmp_path / "data.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(DataError, match="looks like a binary file.*not text"):
        read(str(binary))
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("a;b;c\n1;2;3\n4;5;6\n")
    with pytest.raises(DataError, match="looks ';'-separated: give delimiter=';'"):
        read(str(semicolons), delimiter=",")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DataError, match="not a well-formed CSV"):
        read(str(ragged), delimiter=",")
    with pytest.raises(DataError, match="is a directory"):
        read(str(tmp_path))


def test_require_columns_names_the_option_and_suggests():
    with pytest.raises(DataError, match=r"target: column 'amout' \(did you mean 'amount'\?\) is not in the data"):
        require_columns(SMALL, ["amout"], "target")
    assert require_columns(SMALL, "id, city", "keys") == ["id", "city"]


def test_load_table_wants_one_source(tmp_path):
    SMALL.to_csv(tmp_path / "a.csv", index=False)
    assert load_table(str(tmp_path / "a.csv")).shape == (4, 3)
    with pytest.raises(SpecError, match="expected one source, got 2"):
        load_table([str(tmp_path / "a.csv"), str(tmp_path / "a.csv")])
