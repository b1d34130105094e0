"""codegen.FirstTry: the faster function when it can, the sure one otherwise."""

from engine.operators.codegen import FirstTry


def test_a_batch_the_fast_function_refuses_goes_the_sure_way_and_so_do_the_next_few():
    calls = []

    def fast(batch):
        calls.append("fast")
        if "x" in batch:
            raise KeyError("x")
        return ["fast", *batch]

    def sure(batch):
        calls.append("sure")
        return ["sure", *batch]

    run = FirstTry(lambda: fast, sure)
    assert run(["a"]) == ["fast", "a"]
    assert run(["a", "x"]) == ["sure", "a", "x"]
    assert [run(["a"]) for _ in range(FirstTry.PAUSE)] == [["sure", "a"]] * FirstTry.PAUSE
    assert run(["a"]) == ["fast", "a"]
    assert calls == ["fast", "fast", "sure"] + ["sure"] * FirstTry.PAUSE + ["fast"]


def test_a_fast_function_that_cannot_be_built_leaves_the_sure_one():
    def make():
        raise SyntaxError("too deep")

    run = FirstTry(make, lambda batch: ["sure", *batch])
    assert run(["a"]) == ["sure", "a"] and run(["b"]) == ["sure", "b"]


def test_the_fast_function_is_built_when_first_needed():
    built = []
    run = FirstTry(lambda: built.append(1) or (lambda batch: batch), lambda batch: [])
    assert built == []
    run([1])
    run([2])
    assert built == [1]
