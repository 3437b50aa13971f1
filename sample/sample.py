"""Nested brackets and repeated names: look for heads that match each closing bracket to its
opening one, and heads that attend from a name to where it was defined."""


def area(radius):
    return 3.14159 * (radius ** 2)


def mean(values):
    total = sum(values)
    return total / len(values) if values else 0.0


def matrix_sum(rows):
    return sum([sum([cell for cell in row]) for row in rows])


print(mean([area(r) for r in (1, 2, 3)]), matrix_sum([[1, 2], [3, (4 + 5)]]))
