"""codealign: make a code model better at writing good code, with automated judges.

Sample solutions (vLLM), run them in a sandbox (bwrap/docker), rank the passing ones by
efficiency, security and maintainability, build chosen/rejected pairs, and train with
iterative DPO rounds (TRL + LoRA).
"""

from codealign.errors import (CodealignError, ConfigError, GeneratorError, InputError,
                              SandboxFault, SandboxUnavailable, TrainerError)

__all__ = ["CodealignError", "ConfigError", "GeneratorError", "InputError", "SandboxFault",
           "SandboxUnavailable", "TrainerError"]
__version__ = "0.1.0"
