"""Seed 002: Autograd -- grad_fn names, leaf vs intermediate nodes, sigmoid +
binary cross-entropy gradients by hand and by autograd, vector inputs,
clearing gradients, requires_grad_(False) / detach() / no_grad() and the
error backward() then raises, linear regression.

Notebook cells ("In [n]") are reproduced in order; a cell whose last line is a
bare expression (which the notebook displays) becomes print(expr). Cells that
raise in the notebook are wrapped in try/except and print the error's type
and the first line of its message.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

import math


def show_error(e):
    print(f"{type(e).__name__}: {str(e).splitlines()[0]}")


# ===============================================================
# Example 1: y = x^2, dy/dx = 2x
# ===============================================================
print("## Example 1")

# In [1]
def dy_dx(x):
  return 2*x

print(dy_dx(2))

# In [2]  Using Autograd
x = torch.tensor(3.0, requires_grad=True)
y = x**2

print("x -> ", x)
print("y -> ", y)

y.backward()
print("x.grad -> ", x.grad)

# ===============================================================
# Example 2: y = x^2, z = sin(y), dz/dx = 2x cos(x^2)
# ===============================================================
print("\n## Example 2")

# In [3]  Manual Gradient
def dz_dx(x):
    return 2 * x * math.cos(x**2)

print(dz_dx(4))

# In [4]  Autograd demonstration
# Input tensor with gradient tracking
x = torch.tensor(4.0, requires_grad=True)
# Operation 1
y = x ** 2
# Operation 2
z = torch.sin(y)

print("x:", x)
print("y:", y)
print("z:", z)

# Compute gradients
z.backward()

# Gradient of z w.r.t. x
print("x.grad:", x.grad)

# PowBackward0 and SinBackward0 are the backward nodes for pow and sin
print("y.grad_fn:", type(y.grad_fn).__name__)
print("z.grad_fn:", type(z.grad_fn).__name__)

# In [5]  y is an intermediate (non-leaf) node: its .grad is not populated
# (PyTorch also emits a UserWarning on stderr here, as in the notebook)
print(y.grad)

# ===============================================================
# Example 3: sigmoid + binary cross-entropy, manual vs autograd
# ===============================================================
print("\n## Example 3")

# In [6]  Manual Gradient
# Inputs
x = torch.tensor(6.7)  # Input feature
y = torch.tensor(0.0)  # True label (binary)

w = torch.tensor(1.0)  # Weight
b = torch.tensor(0.0)  # Bias

# Binary Cross-Entropy Loss for scalar
def binary_cross_entropy_loss(prediction, target):
    epsilon = 1e-8  # To prevent log(0)
    prediction = torch.clamp(prediction, epsilon, 1 - epsilon)
    return -(target * torch.log(prediction) + (1 - target) * torch.log(1 - prediction))


# Forward pass
z = w * x + b  # Weighted sum (linear part)
y_pred = torch.sigmoid(z)  # Predicted probability

# Compute binary cross-entropy loss
loss = binary_cross_entropy_loss(y_pred, y)
print(loss)


# Derivatives:
# 1. dL/d(y_pred): Loss with respect to the prediction (y_pred)
dloss_dy_pred = (y_pred - y)/(y_pred*(1-y_pred))

# 2. dy_pred/dz: Prediction (y_pred) with respect to z (sigmoid derivative)
dy_pred_dz = y_pred * (1 - y_pred)

# 3. dz/dw and dz/db: z with respect to w and b
dz_dw = x  # dz/dw = x
dz_db = 1  # dz/db = 1 (bias contributes directly to z)

dL_dw = dloss_dy_pred * dy_pred_dz * dz_dw
dL_db = dloss_dy_pred * dy_pred_dz * dz_db

print(f"Manual Gradient of loss w.r.t weight (dw): {dL_dw}")
print(f"Manual Gradient of loss w.r.t bias (db): {dL_db}")

# In [7]  Autograd for binary cross-entropy loss
# Input and target
x = torch.tensor(6.7)
y = torch.tensor(0.0)

# Weights and bais with gradient tracking
w = torch.tensor(1.0, requires_grad=True)
b = torch.tensor(0.0, requires_grad=True)

print("Initial weight:", w)
print("Initial bias:", b)

# Linear layer output
z = w * x + b
print("Linear output (z):", z)

# Predicted probability
y_pred = torch.sigmoid(z)
print("Predicted probability:", y_pred)

# Binary cross-entropy loss
def binary_cross_entropy_loss(prediction, target):
    epsilon = 1e-8
    prediction = torch.clamp(prediction, epsilon, 1 - epsilon)
    return -(target * torch.log(prediction) + (1 - target) * torch.log(1 - prediction))

loss = binary_cross_entropy_loss(y_pred, y)
print("Loss:", loss)

# Compute gradients
loss.backward()

# Gradients of the loss w.r.t. weights
print("Gradient of w:", w.grad)
# Gradient of the loss w.r.t. bias
print("Gradient of b:", b.grad)

# In [8]  Now using vector inputs instead of scalar
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
print(x)

y = (x**2).mean()
print(y)

y.backward()
print(x.grad) # we get 3 grad one for each input

# ===============================================================
# Clearing gradient
# ===============================================================
print("\n## Clearing gradient")

# In [9]
x = torch.tensor(2.0, requires_grad=True)
print(x)

# In [10]  cell-1: forward
y = x ** 2
print(y)

# In [11]  cell-2: backward
y.backward()

# In [12]  cell-3
print(x.grad)

# The notebook says re-running cell-1, cell-2, cell-3 makes x.grad go
# tensor(4.) -> tensor(8.) -> tensor(12.) -> tensor(16.); re-run them three times:
for _ in range(3):
    y = x ** 2      # cell-1
    y.backward()    # cell-2
    print(x.grad)   # cell-3

# In [13]  cell-4
print(x.grad.zero_())

# ===============================================================
# Example 4: Disabling Gradient Tracking
# ===============================================================
print("\n## Example 4: Disabling Gradient Tracking")

# In [14]
x = torch.tensor(2.0, requires_grad=True)
print(x)

# In [15]
y = x ** 2
print(y)

# In [16]
y.backward()

# In [17]
print(x.grad)

# ---- Option 1 - requires_grad_(False) ----
print("\n# Option 1 - requires_grad_(False)")

# In [18]
print(x.requires_grad_(False))

# In [19]
print(x)

# In [20]
y = x ** 2

# In [21]
print(y)

# In [22]
try:
    y.backward()
except RuntimeError as e:
    show_error(e)

# ---- Option 2 - detach() ----
print("\n# Option 2 - detach()")

# In [23]
x = torch.tensor(2.0, requires_grad=True)
print(x)

# In [24]
z = x.detach()
print(z)

# In [25]
y = x ** 2
print(y)

# In [26]
y1 = z ** 2
print(y1)

# In [27]
y.backward()

# In [28]
try:
    y1.backward()
except RuntimeError as e:
    show_error(e)

# ---- Option 3 - torch.no_grad() ----
print("\n# Option 3 - torch.no_grad()")

# In [29]
x = torch.tensor(2.0, requires_grad=True)
print(x)

# In [30]
with torch.no_grad():
    y = x ** 2

# In [31]
print(y)

# In [32]
try:
    y.backward()
except RuntimeError as e:
    show_error(e)

# x.grad

# ===============================================================
# Example 5: Linear Regression
# ===============================================================
print("\n## Example 5: Linear Regression")

# In [33]
# Linear regression with autograd
# Goal: Learn parameters w and b for the model y = w * x + b

# Input data
x = torch.tensor([1., 2., 3., 4.])  # Input features (independent variable)
y_true = torch.tensor([2., 4., 6., 8.])  # Target values (dependent variable, where y = 2 * x ideally)

# Parameters (weights and bias)
w = torch.tensor(0.0, requires_grad=True)  # Initialize weight w with gradient tracking enabled
b = torch.tensor(0.0, requires_grad=True)  # Initialize bias b with gradient tracking enabled

# Forward pass
def forward(x):
    """Compute model predictions: y_pred = w * x + b"""
    return w * x + b

# Loss function (Mean Squared Error)
def loss(y_pred, y_true):
    """Compute Mean Squared Error (MSE) loss between predictions and true values"""
    return ((y_pred - y_true) ** 2).mean()

# Training loop
learning_rate = 0.01  # Step size for parameter updates
epochs = 100  # Number of training iterations

for epoch in range(epochs):
    # Forward pass: Compute predictions
    y_pred = forward(x)  # Predict y using current w and b

    # Compute loss: Measure error between predictions and true values
    l = loss(y_pred, y_true)  # Calculate MSE loss

    # Backward pass: Compute gradients of loss with respect to w and b
    l.backward()  # Autograd computes gradients and stores them in w.grad and b.grad

    # Update parameters and zero gradients
    with torch.no_grad():  # Disable gradient tracking for parameter updates to save memory
        w -= learning_rate * w.grad  # Update weight using gradient descent
        b -= learning_rate * b.grad  # Update bias using gradient descent

        # Zero gradients to prevent accumulation for the next iteration
        w.grad.zero_()  # Clear the gradient of w
        b.grad.zero_()  # Clear the gradient of b

    # Print progress every 10 epochs
    if epoch % 10 == 0:
        print(f'Epoch {epoch}: w = {w.item():.3f}, loss = {l.item():.3f}')

# Print final learned model
print(f'Final prediction: y = {w.item():.3f} * x + {b.item():.3f}')
