"""The public files the national county snapshot is built from, and where each came from.

Each :class:`Input` names a file by its path in the layout of ``../shared/data`` (the
project's folder of real public files, see its ``SOURCES.md``), the SHA-256 of the exact
published bytes the snapshot documents, and its publisher, repository, commit, vintage and
licence. :func:`resolve_inputs` finds them under a folder and checks each one's content, so
the sources ``data/README.md`` states are the bytes that were read.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from equity.errors import DataError

__all__ = ["INPUTS", "Input", "resolve_inputs", "sha256_of"]


@dataclass(frozen=True)
class Input:
    """One public input file of the snapshot.

    Parameters
    ----------
    key
        Short name the build refers to it by.
    path
        Path under the source folder (the layout of ``../shared/data``).
    sha256
        SHA-256 of the published file (for a shapefile: of its ``.shp``; the other parts are
        hashed into the manifest as read).
    title, publisher, repository, commit, source_path, vintage, licence
        Provenance, as ``data/README.md`` states it.
    optional
        The snapshot can be built without it (what it adds is then left out and said so).
    parts
        Other files that belong to it (shapefile parts), next to `path`.
    """

    key: str
    path: str
    sha256: str
    title: str
    publisher: str
    repository: str
    commit: str
    source_path: str
    vintage: str
    licence: str
    optional: bool = False
    parts: tuple[str, ...] = ()


_CENSUS_REPO = "CadyFeng/Employment_Model"
_CENSUS_COMMIT = "b1b687bddbe271fe897388044c7afdb8d20850d1"
_SHP_PARTS = (".dbf", ".shx", ".prj", ".cpg")
_PUBLIC_DOMAIN = "Public domain (US federal government work)"

#: Every input, by key.
INPUTS: dict[str, Input] = {
    i.key: i
    for i in (
        Input(
            key="svi2022",
            path="svi/cdc_svi2022_us_county.csv",
            sha256="ba24ee8a31858674bc7c27f2790102313b3f2516e64a4db6649a7dba24180d25",
            title="CDC/ATSDR Social Vulnerability Index 2022, US counties (SVI_2022_US_county.csv)",
            publisher="CDC/ATSDR Geospatial Research, Analysis & Services Program (inputs: US "
            "Census Bureau, ACS 2018-2022 5-year estimates)",
            repository="Akhorramrouz/FloodLlama",
            commit="bcde4ce714c8240a3941a9c66237e923acd4dd8c",
            source_path="SVI_2022_US_county.csv",
            vintage="SVI 2022: ACS 2018-2022 5-year; 2022 county definitions (Connecticut "
            "planning regions)",
            licence=_PUBLIC_DOMAIN + "; CDC asks for citation",
        ),
        Input(
            key="svi2018",
            path="svi/cdc_svi2018_us_county.csv",
            sha256="fbe6975e00ea806f6106c02e36a6aae0054913f56ca314aa2bea4eea30616e12",
            title="CDC/ATSDR Social Vulnerability Index 2018, US counties (SVI2018_US_COUNTY.csv)",
            publisher="CDC/ATSDR Geospatial Research, Analysis & Services Program (inputs: US "
            "Census Bureau, ACS 2014-2018 5-year estimates)",
            repository="andrewdtu/CDI-SVI-visualization",
            commit="871b87e5e871ceb39f7ab4d0e5fb61d3fbfb6f5f",
            source_path="SVI2018_US_COUNTY.csv",
            vintage="SVI 2018: ACS 2014-2018 5-year (used for Connecticut's 8 counties only)",
            licence=_PUBLIC_DOMAIN + "; CDC asks for citation",
        ),
        Input(
            key="counties",
            path="boundaries/us/cb_2018_us_county_20m.shp",
            sha256="3b60850863dfa6bf89c9af96183bd2487d11f1b9e908bf176de6307ca1e82df1",
            title="Census cartographic boundary file, counties, 1:20,000,000 (cb_2018_us_county_20m)",
            publisher="US Census Bureau, Geography Division (GENZ2018)",
            repository=_CENSUS_REPO,
            commit=_CENSUS_COMMIT,
            source_path="cb_2018_us_county_20m.zip",
            vintage="2018 (counties as of 1 January 2018)",
            licence=_PUBLIC_DOMAIN,
            parts=_SHP_PARTS,
        ),
        Input(
            key="states",
            path="boundaries/us/cb_2018_us_state_20m.shp",
            sha256="beb41d86602950b5908b7d7fdb11ec1af9cff7e296b1e3dc5e5cbeff686356a8",
            title="Census cartographic boundary file, states, 1:20,000,000 (cb_2018_us_state_20m)",
            publisher="US Census Bureau, Geography Division (GENZ2018)",
            repository=_CENSUS_REPO,
            commit=_CENSUS_COMMIT,
            source_path="cb_2018_us_state_20m.zip",
            vintage="2018",
            licence=_PUBLIC_DOMAIN,
            parts=_SHP_PARTS,
        ),
        Input(
            key="usage",
            path="broadband/microsoft_broadband_data_2020October.csv",
            sha256="40f99fb2b13152bc8ab44d76dcb4166eca32cbfdacb22f276eb14972bc1a33af",
            title="Microsoft US Broadband Usage Percentages, counties (broadband_data_2020October.csv)",
            publisher="Microsoft Airband Initiative (availability column: FCC)",
            repository="microsoft/USBroadbandUsagePercentages",
            commit="c115330729a90e2728fb4435598616fb657aa281",
            source_path="dataset/broadband_data_2020October.csv",
            vintage="usage October 2020; availability = FCC Form 477, 25/3 Mbps as of the end "
            "of 2019 (stale: Form 477 overstates availability and was replaced by the FCC's "
            "Broadband Data Collection)",
            licence="Open Use of Data Agreement (O-UDA) v1.0 (attribution)",
        ),
        Input(
            key="ouda_licence",
            path="broadband/microsoft_O-UDA_LICENSE.txt",
            sha256="546f5a8f85a17f6aa3c8d486185d5b24d16b92692d8d43dac07065557184a2da",
            title="Open Use of Data Agreement v1.0 (licence text of the Microsoft data)",
            publisher="Microsoft (the licence it publishes the usage data under)",
            repository="",
            commit="",
            source_path="the O-UDA v1.0 text kept beside the Microsoft files in the source folder",
            vintage="v1.0",
            licence="licence text",
        ),
        Input(
            key="libraries",
            path="anchors/imls_pls_fy19_outlet_pud19i.csv",
            sha256="fc772368e905e5a904f7207f32f01ddbaca916b5f8b294b733176be59db161bf",
            title="IMLS Public Libraries Survey FY2019, outlet file (PLS_FY19_Outlet_pud19i.csv)",
            publisher="Institute of Museum and Library Services",
            repository="vwalden/library-eda",
            commit="b8d5cf8d45e2136efb17db6aca389e735b712a22",
            source_path="data/PLS_FY19_Outlet_pud19i.csv",
            vintage="FY2019",
            licence=_PUBLIC_DOMAIN,
        ),
        Input(
            key="income",
            path="acs/county/co_acs_raw.rda",
            sha256="4d6a63deabc7cf2e71cca35caa3a8327a2b6b23a29ac48dfd36fce2950a182c6",
            title="ACS 2014-2018 5-year county tables compiled by Brookings Metro (co_acs_raw.rda; "
            "B19013_001 median household income used)",
            publisher="US Census Bureau, ACS 2014-2018 5-year (API), compiled by Sifan Liu, "
            "Brookings Metro",
            repository="fansi-sifan/metro-datasets",
            commit="1c3c9160847e187a2cb423e2fc22328b7d6657bd",
            source_path="census/acs5_2018/co_acs_raw.rda",
            vintage="ACS 2014-2018 5-year (older than the SVI 2022 counts; 2018 dollars)",
            licence=_PUBLIC_DOMAIN + " (ACS values; the repository states no licence)",
            optional=True,
        ),
    )
}


def sha256_of(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_inputs(folder: Path, *, with_income: bool = True) -> dict[str, Path]:
    """The input files under `folder`, each checked against its published SHA-256.

    Parameters
    ----------
    folder
        A folder in the layout of ``../shared/data``.
    with_income
        Include the optional ACS 2014-2018 median-income file.

    Returns
    -------
    dict
        Input key to path (the optional income file only when wanted).

    Raises
    ------
    DataError
        Listing every missing file and every file whose bytes differ from the published
        ones (the snapshot's README would otherwise misstate its source).
    """
    if not folder.is_dir():
        msg = (
            f"{folder}: folder not found (give the folder of the public files, e.g. ../shared/data)"
        )
        raise DataError(msg)
    found: dict[str, Path] = {}
    problems: list[str] = []
    for key, spec in INPUTS.items():
        if spec.optional and not with_income:
            continue
        path = folder / spec.path
        missing = [p for p in (path, *(path.with_suffix(s) for s in spec.parts)) if not p.is_file()]
        if missing:
            problems.append(f"{missing[0]}: file not found ({spec.title})")
            continue
        digest = sha256_of(path)
        if digest != spec.sha256:
            problems.append(
                f"{path}: content differs from the published file the snapshot documents "
                f"(sha256 {digest[:12]}..., expected {spec.sha256[:12]}...)"
            )
            continue
        found[key] = path
    if problems:
        msg = f"{folder}: cannot build the snapshot: " + "; ".join(problems)
        raise DataError(msg)
    return found
