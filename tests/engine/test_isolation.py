import subprocess
import sys


def test_engine_imports_neither_django_nor_torch() -> None:
    code = (
        "import sys, training.engine, training.engine.__main__;"
        "bad = sorted({m.split('.')[0] for m in sys.modules}"
        " & {'django', 'torch', 'transformers', 'trl', 'peft', 'datasets'});"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
