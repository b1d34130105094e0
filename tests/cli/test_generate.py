"""``velocity-flow generate tms`` prints a readable summary, not a dataclass repr."""

from cli.main import main
from engine.simulation import generate


def test_generate_tms_prints_totals_a_table_and_the_business_events(tmp_path, capsys):
    out_dir = tmp_path / "tms"
    assert main(["generate", "tms", "--orders", "12", "--seed", "4", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "Summary(" not in out and "{" not in out
    expected = generate(str(tmp_path / "again"), orders=12, seed=4, with_schema=True)  # same seed, same workload
    lines = out.splitlines()
    first = " ".join(out.split("┏")[0].split())
    assert first == (f"wrote the TMS workload to {out_dir}: 12 orders (seed 4), {expected.transactions:,} transactions, "
                     f"{expected.total_change_events:,} change events, {sum(expected.tombstones.values()):,} tombstones")
    for table, count in expected.change_events.items():
        [row] = [line for line in lines if line.startswith(f"│ {table} ")]
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells == [table, f"{count:,}", f"{expected.tombstones[table]:,}", f"{expected.rows[table]:,}"]
    [total] = [line for line in lines if line.startswith("│ total ")]
    assert [cell.strip() for cell in total.strip("│").split("│")][1] == f"{expected.total_change_events:,}"
    events = " ".join(out.split("expected business events", 1)[1].split())
    for name, count in expected.business_events.items():
        assert f"{name} {count:,}" in events
    assert (out_dir / "technical" / "transaction.jsonl").exists()
