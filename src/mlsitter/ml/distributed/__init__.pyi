from ._cluster import (
    ClusterInfo as ClusterInfo,
    check_address as check_address,
    connect as connect,
)
from ._convergence import (
    Convergence as Convergence,
    check_convergence as check_convergence,
)
from ._mlp import (
    MlpClassifier as MlpClassifier,
    MlpSpec as MlpSpec,
    TabularArrays as TabularArrays,
    build_mlp as build_mlp,
    encode_tables as encode_tables,
    mlp_pipeline as mlp_pipeline,
)
from ._ray_train import (
    CHECKPOINT_FILE as CHECKPOINT_FILE,
    EpochProbe as EpochProbe,
    EpochRecord as EpochRecord,
    TrainingChunk as TrainingChunk,
    checkpoint_weights as checkpoint_weights,
    load_checkpoint as load_checkpoint,
    probe_epoch as probe_epoch,
    run_chunk as run_chunk,
)
