The cat sat on the mat because it was tired.
def area(radius):
    return 3.14159 * (radius ** 2)
