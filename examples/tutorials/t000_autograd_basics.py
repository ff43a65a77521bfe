"""Seed 000: PyTorch Autograd: Automatic Differentiation.

Gradient tracking, backward, .grad, no_grad, matrix gradients via sum(),
chain rule, gradient accumulation and zero_(), detach.
Notebook cells that only display an expression are turned into print(expr).
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

# ---------------------------------------------------------------
# 1. Gradient Basics
# Total Cost = 3 * (material_cost)^2 + 5 * (labor_cost) + 100
# ---------------------------------------------------------------
print("## 1. Gradient Basics")

# Create tensors with gradient tracking enabled
material_cost = torch.tensor(10.0, requires_grad=True)
labor_cost = torch.tensor(5.0, requires_grad=True)

# Define the cost function
total_cost = 3 * material_cost**2 + 5 * labor_cost + 100
print(total_cost)  # notebook cell displays `total_cost`

# Compute gradients via backpropagation
total_cost.backward()

# Access gradients via .grad attribute
print(f"∂cost/∂material = {material_cost.grad}")  # Should be 60
print(f"∂cost/∂labor = {labor_cost.grad}")        # Should be 5

# ---------------------------------------------------------------
# 2. Disabling Gradient Tracking
# ---------------------------------------------------------------
print("\n## 2. Disabling Gradient Tracking")

x = torch.tensor(4.0, requires_grad=True)

# Inside no_grad context, operations don't track gradients
with torch.no_grad():
    y = x**2 + 5
    print(f"Inside no_grad - requires_grad: {y.requires_grad}")

# Outside no_grad, gradients are tracked again
z = x**2 + 5
print(f"Outside no_grad - requires_grad: {z.requires_grad}")

# ---------------------------------------------------------------
# 3. Gradients with Matrices: y = 2x^3 + 7, dy/dx = 6x^2
# ---------------------------------------------------------------
print("\n## 3. Gradients with Matrices")

x = torch.tensor([[1.0, 2.0],
                  [3.0, 4.0]], requires_grad=True)

y = 2 * x**3 + 7
print("y =")
print(y)

# Reducing to Scalar
result = y.sum()
result.backward()

# Verify the Gradients
print("Computed gradients:")
print(x.grad)
print("\nExpected: [[6, 24], [54, 96]]")

# ---------------------------------------------------------------
# 4. Chain Rule in Action: z = (x + y)^2
# ---------------------------------------------------------------
print("\n## 4. Chain Rule in Action")

x = torch.tensor(2.0, requires_grad=True)
y = torch.tensor(3.0, requires_grad=True)

u = x + y
z = u ** 2

z.backward()

print(f"z = {z.item()}")
print(f"∂z/∂x = {x.grad.item()}")  # Should be 10
print(f"∂z/∂y = {y.grad.item()}")  # Should be 10

# ---------------------------------------------------------------
# 5. Gradient Accumulation
# ---------------------------------------------------------------
print("\n## 5. Gradient Accumulation")

w = torch.tensor(1.0, requires_grad=True)

# First backward
loss1 = w * 2
loss1.backward()
print(f"After 1st backward: grad = {w.grad}")

# Second backward - gradients ACCUMULATE!
loss2 = w * 3
loss2.backward()
print(f"After 2nd backward: grad = {w.grad} (accumulated: 2 + 3 = 5)")

# Zeroing Gradients
w = torch.tensor(1.0, requires_grad=True)

for i in range(3):
    # Zero gradients first!
    if w.grad is not None:
        w.grad.zero_()

    loss = w * (i + 1)
    loss.backward()
    print(f"Iteration {i}: loss = {loss.item()}, grad = {w.grad.item()}")

# ---------------------------------------------------------------
# 6. Detaching Tensors
# ---------------------------------------------------------------
print("\n## 6. Detaching Tensors")

x = torch.tensor(3.0, requires_grad=True)
y = x ** 2

# Detach y from the graph
y_detached = y.detach()

print(f"y requires_grad: {y.requires_grad}")
print(f"y_detached requires_grad: {y_detached.requires_grad}")
print(f"Same values: {y.item()} == {y_detached.item()}")
