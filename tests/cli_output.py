"""What the CLI tests of every tool check in an error's output: exactly one line, the tool's prefix."""


def one_error_line(result, tool: str) -> str:
    """The single stderr line of a failed typer CliRunner result, after checking there is one."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{tool}: error: ")
    return lines[0]
