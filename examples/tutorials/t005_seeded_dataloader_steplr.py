"""A seeded training run: random initial weights, a shuffled DataLoader, a StepLR schedule.

Most real tutorials begin with `torch.manual_seed(0)`, draw their data and their model's initial weights
at random, shuffle batches with a DataLoader and decay the learning rate with a scheduler. With fgrad's
copy of PyTorch's random streams every one of those draws is PyTorch's, so this prints what PyTorch
prints: the data, the initial weights (nn.Linear's kaiming-uniform default and explicit nn.init calls),
the shuffled batch order, the learning rates and the training losses.
"""
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset
StepLR = torch.optim.lr_scheduler.StepLR

torch.manual_seed(0)

# ---------------------------------------------------------------
# Random data: y = 2*x0 - 3*x1 + 0.5*x2 + 1 plus noise
# ---------------------------------------------------------------
print("## Data")
X = torch.randn(40, 3)
true_w = torch.tensor([[2.0], [-3.0], [0.5]])
noise = 0.1 * torch.randn(40, 1)
y = X @ true_w + 1.0 + noise
print(X[:3])
print(noise[:3].flatten())
print(torch.rand(5))
print(torch.randint(0, 10, (8,)))
print(torch.randperm(8))

# ---------------------------------------------------------------
# Random initial weights
# ---------------------------------------------------------------
print("\n## Initial weights")
model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))
for name, p in model.named_parameters():
    print(name, p.data)

layer = nn.Linear(5, 2)
nn.init.xavier_uniform_(layer.weight)
nn.init.normal_(layer.bias, mean=0.0, std=0.01)
print(layer.weight.data)
print(layer.bias.data)

# ---------------------------------------------------------------
# Shuffled batches: with a Generator, and from the global stream
# ---------------------------------------------------------------
print("\n## Shuffled batches")
indices = TensorDataset(torch.arange(10))
loader = DataLoader(indices, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(42))
for epoch in range(2):
    print(epoch, [batch.tolist() for (batch,) in loader])
loader = DataLoader(indices, batch_size=3, shuffle=True, drop_last=True)
for epoch in range(2):
    print(epoch, [batch.tolist() for (batch,) in loader])

# ---------------------------------------------------------------
# Training with a DataLoader and StepLR
# ---------------------------------------------------------------
print("\n## Training")
train_loader = DataLoader(TensorDataset(X, y), batch_size=8, shuffle=True)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scheduler = StepLR(optimizer, step_size=2, gamma=0.5)
loss_fn = nn.MSELoss()
for epoch in range(6):
    total = 0.0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(xb)
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    print(f"epoch {epoch}  lr {lr:.4f}  loss {total / len(X):.4f}")

print("\n## After training")
print(model[0].weight.data)
print(scheduler.get_last_lr())
print(torch.rand(3))
