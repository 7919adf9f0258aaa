from ._schema import (
    RequestSchemaError as RequestSchemaError,
    FieldSpec as FieldSpec,
    InputSchema as InputSchema,
    read_schema as read_schema,
    validate_records as validate_records,
    rows_to_frame as rows_to_frame,
)
from ._served_model import (
    Prediction as Prediction,
    ServedModel as ServedModel,
    load_served_model as load_served_model,
)
from ._prediction_log import (
    JsonLinesLog as JsonLinesLog,
    LogRotation as LogRotation,
    log_files as log_files,
    VersionAccuracy as VersionAccuracy,
    sampled as sampled,
    read_predictions as read_predictions,
    read_feedback as read_feedback,
    accuracy_by_version as accuracy_by_version,
)
from ._metrics import (
    ServerMetrics as ServerMetrics,
    parse_counters as parse_counters,
)
from ._online_features import (
    OnlineFeatures as OnlineFeatures,
)
from ._server import (
    ModelService as ModelService,
    create_app as create_app,
    serve_model as serve_model,
)
from ._router import (
    Upstream as Upstream,
    TrafficConfig as TrafficConfig,
    Router as Router,
    traffic_config as traffic_config,
    unit_bucket as unit_bucket,
    pick_side as pick_side,
    create_router_app as create_router_app,
    serve_router as serve_router,
)
from ._processes import (
    PortInUseError as PortInUseError,
    ServerStartError as ServerStartError,
    ServerRecord as ServerRecord,
    check_port_free as check_port_free,
    free_port as free_port,
    is_alive as is_alive,
    start_process as start_process,
    stop_process as stop_process,
)
from ._state import (
    DeploymentState as DeploymentState,
    serving_home as serving_home,
    check_deployment_name as check_deployment_name,
    load_state as load_state,
    require_state as require_state,
    save_state as save_state,
    admin_headers as admin_headers,
    admin_token_path as admin_token_path,
)
from ._analysis import (
    PASS as PASS,
    FAIL as FAIL,
    INCONCLUSIVE as INCONCLUSIVE,
    AnalysisThresholds as AnalysisThresholds,
    VersionWindow as VersionWindow,
    Check as Check,
    WindowAnalysis as WindowAnalysis,
    analyze_window as analyze_window,
)
from ._deployment import (
    CHAMPION as CHAMPION,
    CANDIDATE as CANDIDATE,
    ROUTER as ROUTER,
    DeploymentError as DeploymentError,
    live as live,
    ensure_server as ensure_server,
    ensure_router as ensure_router,
    traffic as traffic,
    set_traffic as set_traffic,
    drain as drain,
    stop_role as stop_role,
    rollback as rollback,
    promote as promote,
    stop_all as stop_all,
)
from ._load import (
    ClientResult as ClientResult,
    LoadSummary as LoadSummary,
    LoadGenerator as LoadGenerator,
)
