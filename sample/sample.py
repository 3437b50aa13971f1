The cat sat on the mat because it was tired.
def area(radius):
    return 3.14159 * (radius ** 2)


def mean(values):
    total = sum(values)
    return total / len(values) if values else 0.0


print(mean([area(r) for r in (1, 2, 3)]))
