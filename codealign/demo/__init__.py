"""The CPU demo: the tiny seed policy (`seed`), the tiny-model helpers the tests share
(`tinymodel`), and `codealign demo` itself (`run`)."""

from codealign.demo.run import DEFAULT_CONFIG, DemoResult, main_entry, run_demo

__all__ = ["DemoResult", "run_demo", "main_entry", "DEFAULT_CONFIG"]
