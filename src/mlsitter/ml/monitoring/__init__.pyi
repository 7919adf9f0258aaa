from ._exposition import (
    MetricsFormatError as MetricsFormatError,
    ServerTotals as ServerTotals,
    Scrape as Scrape,
    parse_exposition as parse_exposition,
    scrape as scrape,
)
from ._slo import (
    AVAILABILITY as AVAILABILITY,
    LATENCY as LATENCY,
    QUALITY as QUALITY,
    PAGE as PAGE,
    TICKET as TICKET,
    BurnRule as BurnRule,
    SRE_RULES as SRE_RULES,
    Objective as Objective,
    CumulativeSeries as CumulativeSeries,
    RuleState as RuleState,
    burn_rate as burn_rate,
    evaluate_rules as evaluate_rules,
    impact_start as impact_start,
)
from ._table import MetricsTable as MetricsTable, close_table as close_table
from ._observer import TickSummary as TickSummary, observe as observe
from ._anomaly import Anomaly as Anomaly, robust_z as robust_z, detect_anomalies as detect_anomalies
from ._series import (
    histogram_quantile as histogram_quantile,
    interval_frame as interval_frame,
    logged_quality as logged_quality,
)
from ._simulation import (
    CHAMPION_TARGET as CHAMPION_TARGET,
    CANDIDATE_TARGET as CANDIDATE_TARGET,
    SimulatedDeployment as SimulatedDeployment,
    read_recording as read_recording,
)
