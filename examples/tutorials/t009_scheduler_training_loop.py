"""A training loop driven by learning-rate schedulers, with several optimizers.

The pattern of most training scripts: seeded data and initial weights, mini-batches from a DataLoader, an
optimizer, and a scheduler stepped per batch (OneCycleLR, a LambdaLR warm-up) or per epoch (CosineAnnealingLR,
MultiStepLR, ReduceLROnPlateau on a validation loss). Each run prints, per epoch, the learning rate the epoch
used and the mean training loss; ReduceLROnPlateau also the validation loss it watched. The optimizers are
RMSprop, Adam, NAdam, Adagrad, AdamW and SGD with Nesterov momentum; the last run saves and restores the
optimizer and scheduler state half-way, and must continue exactly as an uninterrupted run would.
"""
import copy
import os
if os.environ.get("FGRAD_TUTORIAL_BACKEND") == "torch":
    import torch
else:
    import fgrad as torch

nn = torch.nn
optim = torch.optim
lr_scheduler = torch.optim.lr_scheduler
DataLoader = torch.utils.data.DataLoader
TensorDataset = torch.utils.data.TensorDataset

torch.manual_seed(0)
X = torch.randn(96, 4)
y = (X[:, :1] * 1.5 - X[:, 1:2] + 0.3 * X[:, 2:3] ** 2 + 0.1 * torch.randn(96, 1))
X_val, y_val = X[80:], y[80:]
train = TensorDataset(X[:80], y[:80])
loss_fn = nn.MSELoss()


def make_model():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 1))


def run(title, make_optimizer, make_scheduler, per_batch, epochs=6, watch_validation=False):
    print(f"\n## {title}")
    model = make_model()
    optimizer = make_optimizer(model.parameters())
    scheduler = make_scheduler(optimizer)
    loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(2))
    for epoch in range(epochs):
        lr = optimizer.param_groups[0]["lr"]
        total = 0.0
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            total += loss.item() * len(xb)
        line = f"epoch {epoch}  lr {lr:.5f}  train {total / len(train):.4f}"
        if watch_validation:
            with torch.no_grad():
                val = loss_fn(model(X_val), y_val).item()
            scheduler.step(val)
            line += f"  val {val:.4f}"
        elif not per_batch:
            scheduler.step()
        print(line)
    return model, optimizer, scheduler


steps = 6 * len(train) // 16
run("SGD with Nesterov momentum, OneCycleLR per batch",
    lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=steps), per_batch=True)
run("Adam, CosineAnnealingLR per epoch",
    lambda p: optim.Adam(p, lr=0.02),
    lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.001), per_batch=False)
run("RMSprop, ReduceLROnPlateau on the validation loss",
    lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5),
    lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=0.5, patience=0), per_batch=False, watch_validation=True)
run("NAdam, MultiStepLR",
    lambda p: optim.NAdam(p, lr=0.02),
    lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, 4], gamma=0.3), per_batch=False)
run("Adagrad, ExponentialLR",
    lambda p: optim.Adagrad(p, lr=0.1),
    lambda o: lr_scheduler.ExponentialLR(o, gamma=0.8), per_batch=False)
run("AdamW with a linear warm-up (LambdaLR per batch)",
    lambda p: optim.AdamW(p, lr=0.02, weight_decay=0.05),
    lambda o: lr_scheduler.LambdaLR(o, lambda step: min(1.0, (step + 1) / 10)), per_batch=True)

# ---------------------------------------------------------------
# Checkpointing: save half-way, restore into fresh objects, continue
# ---------------------------------------------------------------
print("\n## Saving and restoring optimizer and scheduler state")
model, optimizer, scheduler = run("StepLR with Adamax, 3 epochs", lambda p: optim.Adamax(p, lr=0.05),
                                  lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.5), per_batch=False, epochs=3)
# deep copies, as torch.save / torch.load would give: state_dict() returns the live tensors
saved = copy.deepcopy((model.state_dict(), optimizer.state_dict(), scheduler.state_dict()))
print("saved state of", len(saved[1]["state"]), "parameters; scheduler last_epoch", saved[2]["last_epoch"])
restored = make_model()
restored.load_state_dict(saved[0])
restored_optimizer = optim.Adamax(restored.parameters(), lr=0.05)
restored_optimizer.load_state_dict(saved[1])
restored_scheduler = lr_scheduler.StepLR(restored_optimizer, step_size=2, gamma=0.5)
restored_scheduler.load_state_dict(saved[2])
print("restored lr", restored_optimizer.param_groups[0]["lr"], "step", restored_optimizer.state_dict()["state"][0]["step"])


def continue_training(model, optimizer, scheduler, epochs=2):
    loader = DataLoader(train, batch_size=16, shuffle=True, generator=torch.Generator().manual_seed(3))
    losses = []
    for epoch in range(epochs):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
        scheduler.step()
        losses.append(round(loss.item(), 4))
    return losses


print("restored run continues:", continue_training(restored, restored_optimizer, restored_scheduler))
print("original run continues:", continue_training(model, optimizer, scheduler))
print("same weights after both:", all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                                       restored.state_dict().values())))
