using static TorchSharp.torch;

namespace Ptm.HuggingFace;

/// <summary>
/// The tensors of a Hugging Face model folder, from <c>model.safetensors</c> or a sharded
/// <c>model.safetensors.index.json</c>, behind one face so the key mapping does not care which.
/// </summary>
public sealed class HfWeightSource : IDisposable
{
    /// <summary>A single-file safetensors checkpoint.</summary>
    public const string SingleFile = "model.safetensors";
    /// <summary>The index of a sharded safetensors checkpoint (weight_map: tensor → shard file).</summary>
    public const string IndexFile = "model.safetensors.index.json";
    /// <summary>A PyTorch pickle checkpoint, recognised only to say how to convert it.</summary>
    public const string PickleFile = "pytorch_model.bin";

    readonly SafeTensorsFile? file;
    readonly SafeTensorsIndex? index;

    HfWeightSource(string path, SafeTensorsFile? file, SafeTensorsIndex? index)
    {
        Path = path;
        this.file = file;
        this.index = index;
    }

    /// <summary>The file the tensors come from (the index for a sharded checkpoint), for messages.</summary>
    public string Path { get; }

    /// <summary>Every tensor name, in file order.</summary>
    public IReadOnlyList<string> Names => file?.Names ?? index!.Names;

    /// <summary>The header entry of tensor <paramref name="name"/>.</summary>
    public SafeTensorInfo GetInfo(string name) => file?.GetInfo(name) ?? index!.GetInfo(name);

    /// <summary>A new tensor holding <paramref name="name"/>'s data (the caller owns it), converted to <paramref name="convertTo"/> when given.</summary>
    public Tensor Load(string name, ScalarType? convertTo = null) => file?.Load(name, convertTo) ?? index!.Load(name, convertTo);

    /// <summary>Opens whichever weights file the folder has; a folder with only a PyTorch pickle gets an error saying how to convert it.</summary>
    public static HfWeightSource Open(string dir)
    {
        string single = System.IO.Path.Combine(dir, SingleFile), sharded = System.IO.Path.Combine(dir, IndexFile);
        // SafeTensorsFile recognises a pickle saved under the safetensors name and says so.
        if (File.Exists(single)) return new HfWeightSource(single, SafeTensorsFile.Open(single), null);
        if (File.Exists(sharded)) return new HfWeightSource(sharded, null, SafeTensorsIndex.Open(sharded));
        string pickle = System.IO.Path.Combine(dir, PickleFile);
        if (File.Exists(pickle))
            throw new InvalidInputException(
                $"{pickle}: a PyTorch pickle checkpoint, which Ptm does not read (unpickling can run arbitrary code); convert it to {SingleFile} with " +
                "python -c \"import torch; from safetensors.torch import save_file; sd = torch.load('pytorch_model.bin', map_location='cpu', weights_only=True); " +
                "save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\"");
        throw new InvalidInputException($"{dir}: no {SingleFile} or {IndexFile}");
    }

    /// <summary>Unmaps the files.</summary>
    public void Dispose()
    {
        file?.Dispose();
        index?.Dispose();
    }
}
