"""Small generated worlds shared by model and trainer tests."""
import torch

from graphrec.data import BehaviourLogs, RecLog, build_hetero_data, leave_one_out


def clustered_world(num_users=300, num_items=120, length=20, clusters=6, seed=0):
    """Users interact mostly inside their own item cluster, in order within it:
    a personalised and sequential signal that popularity cannot see."""
    g = torch.Generator().manual_seed(seed)
    size = num_items // clusters
    user = torch.arange(num_users).repeat_interleave(length)
    cluster = user % clusters
    step = torch.arange(length).repeat(num_users)
    start = torch.randint(0, size, (num_users,), generator=g).repeat_interleave(length)
    item = cluster * size + (start + step) % size
    noise = torch.rand(user.numel(), generator=g) < 0.2
    item[noise] = torch.randint(0, num_items, (int(noise.sum()),), generator=g)
    rec = RecLog(user, item, step.double(), num_users, num_items)
    logs = BehaviourLogs(rec, name="clustered")
    return build_hetero_data(logs, leave_one_out(logs))
