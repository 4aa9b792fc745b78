"""A stand-in for the Census Bureau's batch geocoder, answering in its published CSV layout.

It parses the multipart upload (``benchmark`` and ``addressFile``: CSV rows
``id,street,city,state,zip``) and answers each row from a table of street -> answer, exactly as
https://geocoding.geo.census.gov/geocoder/locations/addressbatch does::

    "1","4600 Silver Hill Rd, Washington, DC, 20233","Match","Exact","4600 SILVER HILL RD, WASHINGTON, DC, 20233","-76.92744,38.845985","613199520","L"
    "2","1 Nowhere Rd, Xyz, ZZ, 00000","No_Match"
    "3","1 Main St, Springfield, , ","Tie"

Rows are answered in reverse order (the service does not keep the input order). Streets not in
the table get ``No_Match``; ``omit`` lists streets left out of the answer (a partial answer).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from _httpserver import Reply

PATH = "/geocoder/locations/addressbatch"


@dataclass
class FakeCensusGeocoder:
    """Route function for :class:`_httpserver.LocalServer` (POST ``PATH``)."""

    matches: dict[str, tuple[float, float]] = field(default_factory=dict)  # street -> lon, lat
    ties: set[str] = field(default_factory=set)
    omit: set[str] = field(default_factory=set)
    batches: list[list[list[str]]] = field(default_factory=list)  # rows of each upload
    benchmarks: list[str] = field(default_factory=list)

    def __call__(self, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        rows, benchmark = self.parse(body)
        self.batches.append(rows)
        self.benchmarks.append(benchmark)
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        for rid, street, city, state, zip_ in reversed(rows):
            if street in self.omit:
                continue
            given = f"{street}, {city}, {state}, {zip_}"
            if street in self.matches:
                lon, lat = self.matches[street]
                matched = f"{street.upper()}, {city.upper()}, {state}, {zip_}"
                writer.writerow(
                    [rid, given, "Match", "Exact", matched, f"{lon},{lat}", "613199520", "L"]
                )
            elif street in self.ties:
                writer.writerow([rid, given, "Tie"])
            else:
                writer.writerow([rid, given, "No_Match"])
        return Reply(200, out.getvalue().encode(), {"Content-Type": "text/csv"})

    @staticmethod
    def parse(body: bytes) -> tuple[list[list[str]], str]:
        """The CSV rows and the benchmark of a multipart upload (fails on any other body)."""
        if body[:2] != b"--":
            raise AssertionError(f"not a multipart body: {body[:60]!r}")
        boundary = body.split(b"\r\n", 1)[0][2:].decode()
        head = f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        text = parts["addressFile"].get_payload(decode=True).decode("utf-8")
        benchmark = parts["benchmark"].get_payload(decode=True).decode().strip()
        rows = [r for r in csv.reader(io.StringIO(text)) if r]
        assert all(len(r) == 5 for r in rows), rows
        return rows, benchmark
