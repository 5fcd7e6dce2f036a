"""Your own logs and relations, described by a spec file, as a dataset every model accepts."""
import json

import pytest

from graphrec.cli import main
from graphrec.data.datasets import LogFiles, SpecError
from graphrec.data.logs import LogError
from graphrec.data.schema import GraphSchemaError
from graphrec.models import GraphCF, GraphCFConfig

SPEC = """
name: my-shop
recommendation:
  file: clicks.csv
  columns: {user: visitor, item: product, time: ts}
search:
  file: searches.csv
  columns: {user: visitor, query: text, item: product, time: ts}
relations:
  - file: item_creator.csv
    edge_type: [item, made_by, creator]
    columns: {source: product, target: creator}
  - file: follows.csv
    edge_type: [user, follows, creator]
    columns: {source: visitor, target: creator}
  - file: item_shop.tsv
    edge_type: [item, sold_in, shop]
    columns: {source: product, target: shop}
"""


def write_shop(folder, spec=SPEC, bad_creator_row=False):
    """60 visitors in 5 taste groups of 12 products; each product has one of 10 creators
    (two per group) and one of 3 shops; visitors follow their group's first creator."""
    rows = ["visitor,product,ts"]
    for u in range(60):
        for t in range(10):
            rows.append(f"v{u},p{(u % 5) * 12 + (u + 3 * t) % 12},{1000 * t + u}")
    (folder / "clicks.csv").write_text("\n".join(rows) + "\n")
    search = ["visitor,text,product,ts"] + [f"v{u},group {u % 5} gift,p{(u % 5) * 12},{500 + u}"
                                            for u in range(0, 60, 2)]
    (folder / "searches.csv").write_text("\n".join(search) + "\n")
    creators = ["product,creator"] + [f"p{i},c{(i // 12) * 2 + i % 2}" for i in range(60)]
    if bad_creator_row:
        creators.insert(4, "p999,c0")  # data row 4: a product the logs do not have
    (folder / "item_creator.csv").write_text("\n".join(creators) + "\n")
    follows = "\n".join(f"v{u},c{(u % 5) * 2}" for u in range(60))
    (folder / "follows.csv").write_text("visitor,creator\n" + follows + "\n")
    (folder / "item_shop.tsv").write_text("product\tshop\n" + "\n".join(f"p{i}\ts{i % 3}" for i in range(60)) + "\n")
    (folder / "shop.yaml").write_text(spec)
    return folder / "shop.yaml"


def test_spec_builds_a_graph_with_your_node_and_edge_types(tmp_path, tmp_cache):
    data = LogFiles(str(write_shop(tmp_path)))[0]
    assert data["user"].num_nodes == 60 and data["item"].num_nodes == 60
    assert data["creator"].num_nodes == 10 and data["shop"].num_nodes == 3
    made_by = data["item", "made_by", "creator"].edge_index
    assert made_by.shape == (2, 60)
    assert data["user", "follows", "creator"].edge_index.shape == (2, 60)
    assert ("user", "searches", "query") in data.edge_types  # the logs' own types are all there


def test_relation_endpoints_map_through_the_logs_ids(tmp_path, tmp_cache):
    ds = LogFiles(str(write_shop(tmp_path)))
    data = ds[0]
    items = ds.logs.item_map.raw.tolist()
    ei = data["item", "made_by", "creator"].edge_index
    creator_of = {items[i]: int(c) for i, c in ei.t().tolist()}
    # p0 and p2 share creator c0, p1 has c1, p12 has c2: equal raw creators, equal indices
    assert creator_of["p0"] == creator_of["p2"] != creator_of["p1"]
    assert creator_of["p12"] not in (creator_of["p0"], creator_of["p1"])


def test_inspect_prints_the_schema_of_your_graph(tmp_path, tmp_cache, capsys):
    spec = write_shop(tmp_path)
    assert main(["data", "inspect", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "| creator | 10 |" in out and "| shop | 3 |" in out
    assert "| (item, made_by, creator) | 60 |" in out
    assert main(["data", "inspect", str(spec), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["graph"]["edges"]["user__follows__creator"]["destination_degree"]["isolated"] == 5  # c1, c3, ...
    assert doc["graph"]["nodes"]["shop"]["count"] == 3


def test_every_model_trains_on_it_and_graph_cf_reads_your_relations(tmp_path, tmp_cache):
    spec = write_shop(tmp_path)
    small = ["--set", "train.epochs=2", "--set", "train.num_threads=1", "-q"]
    for model in ("lightgcn", "sasrec"):
        assert main(["train", "--model", model, "--dataset", str(spec), "--output", str(tmp_path / model), *small]) == 0
    out = tmp_path / "gcf"
    assert main(["train", "--model", "graph_cf", "--dataset", str(spec), "--output", str(out),
                 "--set", "model.relations=clicks,search,item:made_by:creator,user:follows:creator",
                 "--set", "model.conv=gat", *small]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["test"]["ndcg@10"] > 0
    model = GraphCF.from_data(LogFiles(str(spec))[0], GraphCFConfig(relations="clicks,item:made_by:creator"))
    assert set(model.emb) == {"user", "item", "creator"}


def test_a_model_asking_for_a_type_the_graph_lacks_names_it(tmp_path, tmp_cache):
    data = LogFiles(str(write_shop(tmp_path)))[0]
    with pytest.raises(GraphSchemaError, match=r"needs edge type \('item', 'made_by', 'brand'\).*made_by.*creator"):
        GraphCF.from_data(data, GraphCFConfig(relations="clicks,item:made_by:brand"))


@pytest.mark.parametrize("spec,match", [
    ("recommendation: {file: clicks.csv, columns: {user: visitor}}\nrelatoins: []\n",
     r"shop.yaml: 'relatoins' is not a known key"),
    ("search: {file: s.csv, columns: {}}\n", r"'recommendation' is required"),
    ("recommendation: {file: clicks.csv, colums: {}}\n", r"'recommendation.colums' is not a known key"),
    ("recommendation: {file: clicks.csv, columns: {user: visitor, item: product, time: ts}}\n"
     "relations: [{file: item_creator.csv, edge_type: [item, made_by], columns: {source: product, target: creator}}]\n",
     r"'relations\[0\].edge_type' must be \[source type, relation, target type\]"),
    ("recommendation: {file: clicks.csv, columns: {user: visitor, item: product, time: ts}}\n"
     "relations: [{file: item_creator.csv, edge_type: [item, has, query],\n"
     "             columns: {source: product, target: creator}}]\n",
     r"uses node type 'query', which the logs define"),
    ("recommendation: {file: clicks.csv, columns: {user: visitor, item: product, time: ts}}\nsplit: random\n",
     r"'split' must be one of leave_one_out, temporal"),
])
def test_spec_mistakes_name_the_file_and_key(spec, match, tmp_path, tmp_cache):
    with pytest.raises(SpecError, match=match):
        LogFiles(str(write_shop(tmp_path, spec=spec)))


def test_bad_rows_and_missing_files_are_named(tmp_path, tmp_cache, capsys):
    with pytest.raises(LogError, match=r"item_creator.csv, row 4, field 'product'.*p999"):
        LogFiles(str(write_shop(tmp_path, bad_creator_row=True)))
    spec = SPEC.replace("item_shop.tsv", "missing.tsv")
    with pytest.raises(FileNotFoundError, match=r"shop.yaml: files named in the spec do not exist.*missing.tsv"):
        LogFiles(str(write_shop(tmp_path, spec=spec)))
    assert main(["data", "inspect", str(tmp_path / "shop.yaml"), "--set", "data.num_users=3"]) != 0
    assert "takes no data.* settings (num_users)" in capsys.readouterr().err


def test_changing_a_file_reprocesses(tmp_path, tmp_cache):
    spec = write_shop(tmp_path)
    assert LogFiles(str(spec))[0]["shop"].num_nodes == 3
    (tmp_path / "item_shop.tsv").write_text("product\tshop\n" + "\n".join(f"p{i}\ts{i % 4}" for i in range(60)) + "\n")
    assert LogFiles(str(spec))[0]["shop"].num_nodes == 4
